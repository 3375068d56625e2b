"""Reviewer window (pytest-qt, offscreen): answering by keyboard, confidence, progress, time per
item, resume, lock, and that nothing on screen reveals the method, the altered trace, the model
or record names."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("pytestqt")
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QAbstractButton, QLabel, QLineEdit, QWidget  # noqa: E402

from engine.review.collect import collect_pairs  # noqa: E402
from engine.review.study import create_study, open_study  # noqa: E402
from gui.reviewer import ReviewerWindow  # noqa: E402
from review_data import SAMPLES, adversarial_dir  # noqa: E402

KEYS = {"A": ["s", "d"], "B": ["1", "2"], "C": ["n", "a", "o", "~"]}
VALUES = {"s": "same", "d": "different", "1": "1", "2": "2", "n": "N", "a": "A", "o": "O", "~": "~"}


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    return collect_pairs([str(adversarial_dir(tmp_path_factory.getbasetemp()))])[0]


@pytest.fixture()
def study(tmp_path, pairs):
    path = tmp_path / "gui.sqlite"
    create_study(path, pairs, "A,C,B", seed=3, n_per_task=2).close()
    return path


def _window(qtbot, path, **kw) -> ReviewerWindow:
    w = ReviewerWindow(str(path), min_item_s=kw.pop("min_item_s", 0.0), **kw)
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    qtbot.waitExposed(w)
    return w


def _start(qtbot, w, name="J.S.", page=None):
    w.name_edit.setText(name)
    qtbot.keyClick(w.name_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.stack.currentIndex() == (w.PAGE_INSTRUCTIONS if page is None else page), timeout=3000)


def _to_item(qtbot, w):
    """From the instructions or a task introduction to the item page."""
    for _ in range(2):
        if w.stack.currentIndex() == w.PAGE_ITEM:
            return
        qtbot.keyClick(w, Qt.Key.Key_Return)
    assert w.stack.currentIndex() == w.PAGE_ITEM


def _answer_current(qtbot, w, k=0, confidence="4"):
    task = w.item["task"]
    key = KEYS[task][k % len(KEYS[task])]
    qtbot.keyClick(w, key)
    assert w.phase == "confidence" and w.selected == VALUES[key]
    if confidence is None:
        qtbot.keyClick(w, Qt.Key.Key_Return)
    else:
        qtbot.keyClick(w, confidence)
    return task, VALUES[key]


def _texts(w) -> list[str]:
    """Every text a reviewer can see: window title, visible labels, buttons, line edits, tooltips
    and the text items drawn inside the plots."""
    out = [w.windowTitle()]
    for child in w.findChildren(QWidget):
        if not child.isVisible():
            continue
        if isinstance(child, QLabel):
            out.append(child.text())
        elif isinstance(child, QAbstractButton):
            out.append(child.text())
        elif isinstance(child, QLineEdit):
            out.append(child.text())
        if child.toolTip():
            out.append(child.toolTip())
    for view in w.views:
        if not view.isVisible():
            continue
        plot = getattr(view.strip, "plot", None)
        scene = plot.scene() if plot is not None else None
        for item in (scene.items() if scene is not None else []):
            if not item.isVisible():
                continue
            for attr in ("toPlainText", "text"):
                fn = getattr(item, attr, None)
                if callable(fn):
                    try:
                        t = fn()
                    except TypeError:
                        continue
                    if isinstance(t, str):
                        out.append(t)
            label = getattr(item, "labelText", None)
            if isinstance(label, str):
                out.append(label)
    return out


def test_full_session_by_keyboard(qtbot, study):
    w = _window(qtbot, study)
    assert w.stack.currentIndex() == w.PAGE_WELCOME
    _start(qtbot, w)
    qtbot.keyClick(w, Qt.Key.Key_Return)
    assert w.stack.currentIndex() == w.PAGE_TASK and "Part 1 of 3" in w.task_part.text()
    qtbot.keyClick(w, Qt.Key.Key_Return)
    given = []
    for k in range(6):
        if w.stack.currentIndex() == w.PAGE_TASK:  # the next part's instructions
            qtbot.keyClick(w, Qt.Key.Key_Return)
        assert w.stack.currentIndex() == w.PAGE_ITEM
        assert w.progress_label.text() == f"Item {k + 1} of 6"
        assert w.progress_bar.value() == k
        item_id = w.item["item_id"]
        task, value = _answer_current(qtbot, w, k, confidence=None if k == 2 else str(1 + k % 5))
        given.append((item_id, task, value, None if k == 2 else 1 + k % 5))
    assert w.stack.currentIndex() == w.PAGE_DONE and "complete" in w.done_text.text()
    assert [t for _, t, _, _ in given] == ["A", "A", "C", "C", "B", "B"]
    w.close()
    with open_study(study) as st:
        rows = {r["item_id"]: r for r in st.answers()}
        assert st.sessions()[0]["locked"] and st.sessions()[0]["reviewer"] == "J.S."
    for item_id, task, value, conf in given:
        r = rows[item_id]
        assert (r["task"], r["answer"], r["confidence"]) == (task, value, conf)
        assert r["elapsed_s"] is not None and r["elapsed_s"] >= 0


def test_change_answer_before_confidence_and_tilde(qtbot, study):
    w = _window(qtbot, study)
    _start(qtbot, w)
    _to_item(qtbot, w)
    qtbot.keyClick(w, "s")
    assert w.phase == "confidence" and w.answer_buttons["same"].property("selected") == "true"
    qtbot.keyClick(w, Qt.Key.Key_Backspace)
    assert w.phase == "answer" and w.selected is None
    qtbot.keyClick(w, "x")  # not an answer in task A: ignored
    assert w.phase == "answer"
    qtbot.keyClick(w, "d")
    qtbot.keyClick(w, Qt.Key.Key_Return)
    assert w.session.progress()[0] == 1
    _answer_current(qtbot, w)
    _to_item(qtbot, w)
    assert w.item["task"] == "C"
    qtbot.keyClick(w, "~")
    assert w.selected == "~"
    qtbot.keyClick(w, "5")
    with open_study(study) as st:
        answers = sorted((r["position"], r["answer"], r["confidence"]) for r in st.answers())
    assert answers[0][1:] == ("different", None) and answers[2][1:] == ("~", 5)


def test_answer_buttons_and_confidence_buttons(qtbot, study):
    w = _window(qtbot, study)
    _start(qtbot, w)
    _to_item(qtbot, w)
    qtbot.mouseClick(w.answer_buttons["different"], Qt.MouseButton.LeftButton)
    assert w.phase == "confidence"
    qtbot.mouseClick(w.conf_buttons[2], Qt.MouseButton.LeftButton)
    with open_study(study) as st:
        (r,) = st.answers()
    assert (r["answer"], r["confidence"]) == ("different", 2)


def test_resume_then_lock(qtbot, study):
    w = _window(qtbot, study)
    _start(qtbot, w, "Dr Who")
    _to_item(qtbot, w)
    first = w.item["item_id"]
    _answer_current(qtbot, w)
    second = w.item["item_id"]
    _answer_current(qtbot, w)
    third = w.session.next_item_id()
    w.close()
    w2 = _window(qtbot, study, reviewer="dr who")
    qtbot.waitUntil(lambda: w2.stack.currentIndex() == w2.PAGE_INSTRUCTIONS)
    assert "answered 2 of 6" in w2.instr_resume.text()
    _to_item(qtbot, w2)
    assert w2.item["item_id"] == third and w2.progress_label.text() == "Item 3 of 6"
    assert third not in (first, second)
    for k in range(4):
        _to_item(qtbot, w2)
        _answer_current(qtbot, w2, k)
    assert w2.stack.currentIndex() == w2.PAGE_DONE
    w2.close()
    with open_study(study) as st:
        n_before = len(st.answers())
        assert n_before == 6 and st.sessions()[0]["locked"]
    w3 = _window(qtbot, study)
    _start(qtbot, w3, "DR WHO", page=w3.PAGE_DONE)
    assert "locked" in w3.done_text.text()
    for key in ("s", "1", Qt.Key.Key_Return, "n"):
        qtbot.keyClick(w3, key)
    assert w3.stack.currentIndex() == w3.PAGE_DONE
    with open_study(study) as st:
        assert len(st.answers()) == n_before


def test_empty_name_is_refused(qtbot, study):
    w = _window(qtbot, study)
    w.name_edit.setText("   ")
    qtbot.keyClick(w.name_edit, Qt.Key.Key_Return)
    qtbot.wait(20)
    assert w.stack.currentIndex() == w.PAGE_WELCOME and "name" in w.welcome_msg.text()


def test_nothing_on_screen_reveals_the_key(qtbot, study, pairs):
    names = {n.lower() for n in (p.stem for p in SAMPLES.glob("A*.hea"))}
    names |= {os.path.basename(p.adversarial_record).lower() for p in pairs}
    forbidden = {"pgd", "sap", "adversarial", "perturb", "attack", "model", "predict", "probab", "band",
                 "original", "smooth", "untrained", "default"} | names
    w = _window(qtbot, study)
    seen_pages = []

    def check(where):
        text = " | ".join(_texts(w)).lower()
        for word in forbidden:
            assert word not in text, (where, word, text[:2000])
        if w.stack.currentIndex() == w.PAGE_ITEM and w.item["task"] != "B":
            assert "altered" not in text, (where, text[:2000])  # only task B mentions alteration
        seen_pages.append(w.stack.currentIndex())

    check("welcome")
    _start(qtbot, w)
    check("instructions")
    for k in range(6):
        if w.stack.currentIndex() != w.PAGE_ITEM:
            qtbot.keyClick(w, Qt.Key.Key_Return)
            check("task intro")
            qtbot.keyClick(w, Qt.Key.Key_Return)
        check(f"item {k}")
        task = w.item["task"]
        qtbot.keyClick(w, KEYS[task][0])
        check(f"item {k} confidence")
        qtbot.keyClick(w, "3")
    check("done")
    assert {w.PAGE_WELCOME, w.PAGE_INSTRUCTIONS, w.PAGE_TASK, w.PAGE_ITEM, w.PAGE_DONE} <= set(seen_pages)


def test_both_traces_drawn_identically(qtbot, study):
    w = _window(qtbot, study)
    _start(qtbot, w)
    _to_item(qtbot, w)
    assert w.item["task"] == "A"
    qtbot.wait(50)  # the deferred fit
    a, b = w.views
    assert a.isVisible() and b.isVisible()
    assert (a.label.text(), b.label.text()) == ("ECG 1", "ECG 2")
    assert a.size() == b.size() and a.strip.size() == b.strip.size()
    assert a.viewbox().viewRange() == b.viewbox().viewRange()
    for fn in ("seconds_per_row", "mode", "row_count", "real_size", "duration"):
        assert getattr(a.strip, fn)() == getattr(b.strip, fn)(), fn
    for layer in ("original", "adversarial", "perturbation", "band", "members", "difference"):
        assert a.strip.layer_drawn(layer) == b.strip.layer_drawn(layer) == (layer == "original"), layer
        assert not a.strip.has_layer(layer) or layer == "original"
    assert not a.strip.legend.isVisible() and not b.strip.legend.isVisible()
    assert not a.strip.overview.isVisible() and not a.strip.info.isVisible()
    # the whole record is in view
    t0, t1 = a.strip.view_range()
    assert t0 == 0.0 and t1 == pytest.approx(a.strip.duration(), abs=0.05)
    # zoom and pan act on both strips together
    before = a.viewbox().viewRange()
    qtbot.keyClick(w, Qt.Key.Key_Plus)
    after_a, after_b = a.viewbox().viewRange(), b.viewbox().viewRange()
    assert after_a != before and after_a == after_b
    qtbot.keyClick(w, "z")
    qtbot.wait(20)
    assert a.viewbox().viewRange() == b.viewbox().viewRange()
    qtbot.keyClick(w, "c")
    assert w.caliper_btn.isChecked()
    # task C: a single ECG, the second strip hidden
    for _ in range(2):
        _answer_current(qtbot, w)
    _to_item(qtbot, w)
    assert w.item["task"] == "C" and not w.views[1].isVisible() and not w.views[0].label.isVisible()


def test_keys_on_the_plots_and_on_new_buttons_reach_the_window_without_an_app_filter(qtbot, study, monkeypatch):
    """Answer keys work wherever the focus is in the window (a clicked plot, an answer button made
    for this task), through filters on the window's own widgets: the reviewer installs nothing on
    the application, so no Python runs for other windows' events."""
    from PySide6.QtWidgets import QApplication, QGraphicsView

    app_filters = []
    monkeypatch.setattr(QApplication, "installEventFilter", lambda self, f: app_filters.append(f))
    w = _window(qtbot, study)
    _start(qtbot, w)
    _to_item(qtbot, w)
    assert app_filters == []
    qtbot.wait(50)
    plot = w.views[0].strip.findChildren(QGraphicsView)[0]
    seen = []
    handle = w.handle_key
    monkeypatch.setattr(w, "handle_key", lambda ev: seen.append(ev.key()) or handle(ev))
    a, b = w.views
    before = a.viewbox().viewRange()
    qtbot.keyClick(plot, Qt.Key.Key_Plus)  # a key on the plot zooms both strips
    assert a.viewbox().viewRange() != before and a.viewbox().viewRange() == b.viewbox().viewRange()
    qtbot.keyClick(plot, Qt.Key.Key_Right)
    assert seen == [Qt.Key.Key_Plus, Qt.Key.Key_Right]
    task = w.item["task"]
    button = next(iter(w.answer_buttons.values()))  # made when the task began
    qtbot.keyClick(button, Qt.Key.Key_Space)  # a focused button never answers by itself
    assert w.phase == "answer" and w.selected is None
    qtbot.keyClick(button, KEYS[task][0])
    assert w.phase == "confidence" and w.selected == VALUES[KEYS[task][0]]
    qtbot.keyClick(plot, "3")
    assert w.phase == "answer" and w.selected is None  # answered: the next item waits


def test_a_quick_second_press_does_not_answer_the_next_item(qtbot, study):
    w = _window(qtbot, study, min_item_s=5.0)
    _start(qtbot, w)
    _to_item(qtbot, w)
    qtbot.keyClick(w, "s")  # within the first seconds of the item: ignored
    assert w.phase == "answer" and w.session.progress()[0] == 0
    w.min_item_s = 0.0
    qtbot.keyClick(w, "s")
    qtbot.keyClick(w, "2")
    assert w.session.progress()[0] == 1
    w.min_item_s = 5.0
    w.shown_at = __import__("time").monotonic()
    qtbot.keyClick(w, "s")
    assert w.phase == "answer" and w.session.progress()[0] == 1


def test_study_without_confidence(qtbot, tmp_path, pairs):
    path = tmp_path / "noconf.sqlite"
    create_study(path, pairs, "B", seed=1, n_per_task=2, ask_confidence=False).close()
    w = _window(qtbot, path)
    _start(qtbot, w)
    _to_item(qtbot, w)
    assert not w.conf_buttons[1].isVisible()
    qtbot.keyClick(w, "1")
    assert w.session.progress()[0] == 1 and w.progress_label.text() == "Item 2 of 2"
    qtbot.keyClick(w, "2")
    assert w.stack.currentIndex() == w.PAGE_DONE
    with open_study(path) as st:
        assert [r["confidence"] for r in st.answers()] == [None, None]


def test_a_damaged_trace_is_a_dialog_not_a_crash(qtbot, study, monkeypatch):
    import sqlite3

    from PySide6.QtWidgets import QMessageBox

    conn = sqlite3.connect(study)
    first = conn.execute("SELECT trace1 FROM items ORDER BY position LIMIT 1").fetchone()[0]
    conn.execute("UPDATE signals SET data=x'00' WHERE signal_id=?", (first,))
    conn.commit()
    conn.close()
    shown = []
    monkeypatch.setattr(QMessageBox, "critical", lambda *a, **k: shown.append(a[2]))
    w = _window(qtbot, study)
    _start(qtbot, w)
    qtbot.keyClick(w, Qt.Key.Key_Return)  # instructions -> first item: its trace is damaged
    qtbot.waitUntil(lambda: bool(shown), timeout=3000)
    assert "damaged" in shown[0] and not w.isVisible()


# ---------------------------------------------------------------------------------------------
# task B: the traces use the width, no QRS clipped, Reset view resets; going back; Enter at the end

@pytest.fixture()
def study_b(tmp_path, pairs):
    path = tmp_path / "b.sqlite"
    create_study(path, pairs, "B", seed=3, n_per_task=2).close()
    return path


def _ranges(w):
    return [v.viewbox().viewRange() for v in w.views if v.isVisible()]


def test_task_b_traces_fill_the_width_unclipped_and_reset(qtbot, study_b):
    import numpy as np

    w = _window(qtbot, study_b)
    _start(qtbot, w)
    _to_item(qtbot, w)
    assert w.item["task"] == "B"
    for _ in range(2):  # the second item is laid out with the strips' real shape
        qtbot.wait(150)
        for v, tr in zip(w.views, w.item["traces"]):
            m = v.strip.model
            (x0, x1), (y0, y1) = v.viewbox().viewRange()
            dur = len(tr["x_mv"]) / tr["fs"]
            row = min(m.spr, dur)
            # the rows use the strip's width: little paper right of the longest row
            assert x1 - x0 <= (row + 0.44) * 1.15, (x0, x1, row)
            # nothing above the first row's baseline is cut by the view's top edge
            top = m.baseline(0) + float(np.max(tr["x_mv"])) - m.offset_mv
            assert top <= y1 + 1e-6, (top, y1)
        initial = _ranges(w)
        w.views[0].zoom(2.0)
        w.views[0].pan(0.3)
        qtbot.wait(20)
        assert _ranges(w) != initial
        qtbot.keyClick(w, "z")  # Reset view
        qtbot.wait(20)
        for (a, b) in zip(_ranges(w), initial):
            np.testing.assert_allclose(np.array(a), np.array(b), atol=1e-6)
        _answer_current(qtbot, w)
        if w.stack.currentIndex() != w.PAGE_ITEM:
            break


def test_going_back_told_alike_and_enter_closes_the_thank_you_page(qtbot, study):
    from engine.review.study import INSTRUCTIONS

    w = _window(qtbot, study)
    _start(qtbot, w)
    _to_item(qtbot, w)
    qtbot.keyClick(w, KEYS[w.item["task"]][0])
    hint = w.hint.text()
    # the answer screen and the instructions say the same about taking an answer back
    assert "Backspace" in hint and "Backspace" in INSTRUCTIONS["general"]
    assert "no going back to change an answer" not in INSTRUCTIONS["general"]
    qtbot.keyClick(w, Qt.Key.Key_Backspace)
    assert w.phase == "answer"
    qtbot.keyClick(w, Qt.Key.Key_Return)  # Enter without an answer does nothing
    assert w.phase == "answer"
    _answer_current(qtbot, w)
    for _ in range(20):
        if w.stack.currentIndex() == w.PAGE_DONE:
            break
        if w.stack.currentIndex() == w.PAGE_TASK:
            qtbot.keyClick(w, Qt.Key.Key_Return)
            continue
        _answer_current(qtbot, w)
    assert w.stack.currentIndex() == w.PAGE_DONE and "Enter" in w.done_btn.text()
    assert w.isVisible()
    qtbot.keyClick(w, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=3000)


def test_two_windows_on_one_file_never_overwrite_an_answer(qtbot, study, monkeypatch):
    """The study opened twice (a double double-click): an item answered in one window keeps that
    answer when the other window answers it too; a review finished in one window is finished in both."""
    from PySide6.QtWidgets import QMessageBox

    told = []
    monkeypatch.setattr(QMessageBox, "information", lambda *a, **k: told.append(a[2]))
    w1, w2 = _window(qtbot, study), _window(qtbot, study)
    for w in (w1, w2):
        _start(qtbot, w, "Kim")
        _to_item(qtbot, w)
    assert w1.item["item_id"] == w2.item["item_id"]
    first = w1.item["item_id"]
    _answer_current(qtbot, w1, 0, "5")  # "same", rated 5
    _answer_current(qtbot, w2, 1, "1")  # "different", rated 1: must not replace it
    assert told and "answered meanwhile" in told[0]
    assert w2.stack.currentIndex() == w2.PAGE_ITEM and w2.item["item_id"] != first  # moved on
    with open_study(study) as st:
        (r,) = [r for r in st.answers() if r["item_id"] == first]
    assert (r["answer"], r["confidence"]) == ("same", 5)
    while w1.stack.currentIndex() != w1.PAGE_DONE:  # w1 finishes the review ...
        _to_item(qtbot, w1)
        _answer_current(qtbot, w1)
    _to_item(qtbot, w2)
    qtbot.keyClick(w2, KEYS[w2.item["task"]][0])
    qtbot.keyClick(w2, "3")  # ... so w2's next answer meets a locked session
    assert w2.stack.currentIndex() == w2.PAGE_DONE and "locked" in w2.done_text.text()
    w1.close()
    w2.close()


def test_an_answer_the_disk_refuses_is_a_dialog_and_can_be_given_again(qtbot, study, monkeypatch):
    """Disk full, I/O error or the file locked by another program: one 'Not saved' dialog, no crash
    dialog, the item stays on screen with the answer chosen, and it saves once the file is writable."""
    from PySide6.QtWidgets import QMessageBox

    warned = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: warned.append(a[2]))
    w = _window(qtbot, study)
    _start(qtbot, w)
    _to_item(qtbot, w)
    item = w.item["item_id"]
    w.study.conn.execute("PRAGMA query_only=1")  # every write now fails as on a full disk
    qtbot.keyClick(w, "s")
    qtbot.keyClick(w, "4")
    assert warned and warned[0].startswith("not saved: the study file could not be written")
    assert w.item["item_id"] == item and w.phase == "confidence" and w.selected == "same"
    w.study.conn.execute("PRAGMA query_only=0")
    qtbot.keyClick(w, "4")  # the same answer, given again
    assert w.item["item_id"] != item
    w.close()
    with open_study(study) as st:
        (r,) = st.answers()
    assert (r["item_id"], r["answer"], r["confidence"]) == (item, "same", 4)
