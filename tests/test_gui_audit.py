"""Findings of a user's audit of the main window (2026-12-02), each checked on the real window:
nothing pushes the window past a 1280x720 screen, the dataset dock leaves the strip room, the
suggested perturbation gain applies, the probability bars' labels share one font, ..."""

from __future__ import annotations

from gui_fixtures import SAMPLES, fast_attack, isolated, make_window, model_path, wait_idle  # noqa: F401


def test_free_zoom_and_readouts_never_widen_the_window_past_1280(qtbot, isolated, model_path):  # noqa: F811
    """The strip's info line ("… · NOT CALIBRATED (free zoom)", crosshair readouts) used to set the
    strip's minimum width to its text: with calipers on, free zoom made the window 1387 px wide."""
    win = make_window(qtbot, model_path, isolated["settings"])
    with qtbot.waitSignal(win.classified, timeout=120000):
        win.open_record(str(SAMPLES / "A00009"))
    win.display.act_calipers.setChecked(True)
    win.display.act_free.setChecked(True)
    win.strip._update_info("t 0:01.234   δ (adv − orig) +123.45 µV   and a long crosshair readout")
    qtbot.wait(50)
    win.resize(1280, 720)
    qtbot.wait(50)
    assert win.minimumSizeHint().width() <= 1280
    assert win.width() == 1280
    info = win.strip.info
    assert "NOT CALIBRATED" in info.text()  # the full text stays readable: text() and tooltip
    if info.is_elided():
        assert info.toolTip() == info.text() and info.shown_text().endswith("…")
    win.strip.resize(300, win.strip.height())  # a narrow strip: elided, the full text in the tooltip
    qtbot.wait(10)
    assert info.is_elided() and info.toolTip() == info.text()


def test_dataset_dock_leaves_the_strip_room_at_1280x720(qtbot, isolated, model_path):  # noqa: F811
    """The Robustness card tab's settings (min 312 px tall) made the Dataset dock 386 px high at
    1280x720: the strip's plot shrank to 89 px, its legend covering what was left."""
    win = make_window(qtbot, model_path, isolated["settings"])
    win.resize(1280, 720)
    qtbot.wait(50)
    tabs = win.dataset_panel.tabs
    for i in range(tabs.count()):
        win.show_dataset_tab(i)
        qtbot.wait(50)
        assert win.dataset_dock.isVisible() and tabs.currentIndex() == i
        assert win.dataset_dock.height() <= 300, tabs.tabText(i)
        assert win.strip.plot.height() >= 170, (tabs.tabText(i), win.strip.plot.height())
    assert win.card_panel.run.isVisibleTo(win.card_panel)  # still reachable (scrolled)
    assert "Build robustness card" in win.card_panel.browser.placeholderText()  # not an empty white box


def test_the_suggested_gain_applies_until_the_user_picks_one(qtbot, isolated, model_path):  # noqa: F811
    """Showing the saved gain at start-up checked its View-menu action, whose toggled signal
    counted as the user's choice: the suggested gain never applied (ε 0.3 mV drawn at ×100,
    'clipped at ±10 µV')."""
    win = make_window(qtbot, model_path, isolated["settings"])
    wait_idle(qtbot, win, 120)
    assert win.strip.perturbation_gain() == 100  # the default
    fast_attack(win, eps_mv=0.3)
    with qtbot.waitSignal(win.attackFinished, timeout=120000):
        win.run_attack()
    assert win.strip.perturbation_gain() == 10 and win.display.gain_combo.currentData() == 10
    assert win.display.gain_actions[10].isChecked()
    fast_attack(win, eps_mv=0.01)
    with qtbot.waitSignal(win.attackFinished, timeout=120000):
        win.run_attack()
    assert win.strip.perturbation_gain() == 100 and win.display.gain_actions[100].isChecked()
    win.display.gain_actions[10].trigger()  # the user's choice (View menu) now sticks
    fast_attack(win, eps_mv=0.01)
    with qtbot.waitSignal(win.attackFinished, timeout=120000):
        win.run_attack()
    assert win.strip.perturbation_gain() == 10


def _label_ink_width(bars, row: int) -> int:
    """Width in px of the dark pixels of row `row`'s class label (left of the bars)."""
    img = bars.grab().toImage()
    x_end = 130
    y0, y1 = 4 + 34 * row, 4 + 34 * row + 28
    cols = [x for x in range(min(x_end, img.width()))
            if any(img.pixelColor(x, y).lightness() < 128 for y in range(y0, y1))]
    return (max(cols) - min(cols) + 1) if cols else 0


def test_probability_bars_label_every_class_in_one_font(qtbot):
    """The first class's label was drawn in the panel's font and the others in the smaller font
    of the percentages (the painter's font leaked from one row into the next)."""
    from gui.panels.model_panel import ProbabilityBars

    bars = ProbabilityBars()
    qtbot.addWidget(bars)
    bars.resize(320, bars.sizeHint().height())
    widths = {}
    for order in (["O", "N"], ["N", "O"]):
        bars.set_classes(order)
        widths[tuple(order)] = _label_ink_width(bars, order.index("O"))
    assert widths[("O", "N")] > 40
    assert widths[("O", "N")] == widths[("N", "O")], widths  # "Other rhythm" first or second: same size


def test_attack_fields_show_their_whole_value_at_1280x720(qtbot, isolated, model_path):  # noqa: F811
    """'Query budget [5000 querie' : a count's unit word after the number did not fit the field
    (the label already names what is counted; the unit stays in the tooltip)."""
    from PySide6.QtWidgets import QAbstractSpinBox

    win = make_window(qtbot, model_path, isolated["settings"], open_samples=False)
    win.resize(1280, 720)
    qtbot.wait(50)
    panel = win.attack_panel
    for attr, w in panel.fields.items():
        if not isinstance(w, QAbstractSpinBox):
            continue
        edit = w.lineEdit()
        need = edit.fontMetrics().horizontalAdvance(edit.text())
        assert need <= edit.width() - 4, (attr, edit.text(), need, edit.width())
    queries = panel.field("queries")
    assert queries.suffix() == "" and "queries" in queries.toolTip()
    seed = panel.field("seed")  # the tooltip names the box's own maximum (a C int), not the engine's 2^32-1
    assert str(seed.maximum()) in seed.toolTip() and "4294967295" not in seed.toolTip()


def test_printed_eps_is_in_mv_like_the_window():
    """The PDF/PNG paper's header printed 'ε 10 µV' where the window, its header and the CLI say
    'ε 0.01 mV': now mV first, µV (the lane bar's unit) beside it."""
    from gui.strip.export import header_text

    assert header_text({"record": "A00009", "eps_mv": 0.01}) == "record A00009 · ε 0.01 mV (10 µV)"
    assert header_text({"eps_mv": 0.3}) == "ε 0.3 mV (300 µV)"
    assert header_text({"eps_uv": 5.0}) == "ε 0.005 mV (5 µV)"


def test_calipers_stay_in_view_through_free_zoom(qtbot, isolated, model_path):  # noqa: F811
    """Free zoom moves the continuous strip's baseline (-10 -> -1.5 mV of view): the horizontal
    calipers stayed at -10/-9, off the view, while the readout still said ΔV 1.00 mV."""
    win = make_window(qtbot, model_path, isolated["settings"])
    s = win.strip
    win.display.act_calipers.setChecked(True)
    win.display.set_mode("continuous")
    for free in (True, False, True):
        win.display.act_free.setChecked(free)
        qtbot.wait(20)
        x0, x1, y0, y1 = s.calipers.positions()
        (vx0, vx1), (vy0, vy1) = s._vb.viewRange()
        assert vx0 <= min(x0, x1) and max(x0, x1) <= vx1, (free, (x0, x1), (vx0, vx1))
        assert vy0 <= min(y0, y1) and max(y0, y1) <= vy1, (free, (y0, y1), (vy0, vy1))
        assert "ΔV 1.00 mV" in s.caliper_info.text()


def test_the_info_line_says_real_size_as_soon_as_it_is_on(qtbot, isolated, model_path):  # noqa: F811
    """View ▸ Real Size drew the strip at 25 mm/s but the info line only said so after the next
    crosshair move; zooming out of real size left the note behind the same way."""
    win = make_window(qtbot, model_path, isolated["settings"])
    s = win.strip
    win.display.act_real.setChecked(True)
    qtbot.wait(20)
    assert s.real_size() and "real size 25 mm/s" in s.info.text()
    s.zoom(1.5)  # leaves real size
    qtbot.wait(20)
    assert not s.real_size() and "real size" not in s.info.text()


def test_an_empty_window_says_what_to_do(qtbot, isolated, model_path):  # noqa: F811
    """With nothing open the header said only 'No record open' and the browser '0 records'
    (an empty grid, an empty table): now both say how to open something."""
    win = make_window(qtbot, model_path, isolated["settings"], open_samples=False)
    win.resize(1280, 720)
    qtbot.wait(20)
    assert "Ctrl+O" in win.header.full_text() and "Ctrl+O" in win.header.text()  # full or compact
    assert "Open folder" in win.browser.count.text()
    assert win.browser.recent.text() == "Recent ▾"  # its own arrow, not Fusion's over the t
    with qtbot.waitSignal(win.classified, timeout=60000):
        win.open_folder(str(SAMPLES), select_first=True, remember=False)
    assert win.browser.count.text().startswith("12 records") and "Ctrl+O" not in win.header.full_text()


def test_strip_export_dialog_text_fits_the_format(qtbot):
    """The PNG dialog said the header is printed 'on every page' (a PNG is one page) and was so
    narrow that '10 mm/mV' broke between 10 and mm/mV."""
    from PySide6.QtWidgets import QLabel

    from gui.dialogs import StripExportDialog

    for ext, where in (("png", "above the strip"), ("svg", "above the strip"), ("pdf", "on every page")):
        d = StripExportDialog(None, ext, 30.0, (0.0, 10.0))
        qtbot.addWidget(d)
        d.show()
        qtbot.waitExposed(d)
        intro = d.findChildren(QLabel)[0]
        assert where in intro.text(), ext
        assert d.width() >= 380


def test_model_menu_checks_the_loaded_model(qtbot, isolated, model_path, monkeypatch):  # noqa: F811
    """The Model menu did not show which model was loaded; a failed load leaves the mark on the
    model still in use; the start-up 'no weights' note names the menu entry as the menu does."""
    from engine.models import BUNDLED
    from gui.controllers import model as mc

    win = make_window(qtbot, model_path, isolated["settings"], open_samples=False)
    wait_idle(qtbot, win)
    checked = lambda: [n for n, a in win.model_actions.items() if a.isChecked()]  # noqa: E731
    assert checked() == ([] if win.model_spec not in BUNDLED else [win.model_spec])
    with qtbot.waitSignal(win.modelLoaded, timeout=120000):
        win.model_actions["default"].trigger()
    assert checked() == ["default"]
    bad = isolated["tmp"] / "bad.safetensors"
    bad.write_bytes(b"xxxx")
    win.load_model(str(bad))
    wait_idle(qtbot, win)
    assert checked() == ["default"] and win.clf is not None and len(isolated["errors"]) == 1
    from gui import dialogs

    if mc.missing_weights("paper-cnn") is None:
        return  # paper-cnn weights installed here: nothing missing to check
    asked = []
    monkeypatch.setattr(dialogs, "ask_missing_weights", lambda parent, text, title="": asked.append(text) or False)
    win.model_actions["paper-cnn"].trigger()  # checked on the click; back to the loaded one: no weights
    wait_idle(qtbot, win)
    assert asked and checked() == ["default"]
    notes = []
    monkeypatch.setattr(win, "note_error", notes.append)
    win.models.load_model("paper-cnn", quiet=True)  # as at start-up
    wait_idle(qtbot, win)
    assert notes == [f"No trained weights for paper-cnn: see Model ▸ {BUNDLED['paper-cnn'].label}"]
    assert checked() == ["default"]


def test_robustness_eps_errors_name_the_field_not_the_cli_flag(qtbot, isolated, model_path):  # noqa: F811
    """A bad ε list in the Robustness tab gave '--eps: 'abc' is not a number …' (the CLI's flag)
    after a job had started; now the field's name, before any job."""
    win = make_window(qtbot, model_path, isolated["settings"])
    wait_idle(qtbot, win)
    for text in ("abc, 0.01", "", "0.01, -1"):
        n = len(isolated["errors"])
        win.datasets.run_robustness("all", 2, text)
        assert not win.is_busy()
        msg = isolated["errors"][n][0]
        assert msg.startswith("ε (mV)") and "--eps" not in msg, msg
    assert win.dataset_panel.rb_box.is_empty()  # no half-drawn curve


def test_certify_is_enabled_only_when_it_can_run(qtbot, isolated, model_path):  # noqa: F811
    """Attack ▸ Certify… stayed enabled with no record open (Run Attack beside it was disabled);
    clicking it only said 'Open a record first.'"""
    win = make_window(qtbot, model_path, isolated["settings"], open_samples=False)
    wait_idle(qtbot, win)
    act = win.certifier.action
    assert win.clf is not None and win.rec is None and not act.isEnabled()
    with qtbot.waitSignal(win.classified, timeout=60000):
        win.open_folder(str(SAMPLES), select_first=True, remember=False)
    assert act.isEnabled()
    win.certifier.run(sigma_mv=0.1)
    assert "certify" in win.busy_kinds() and not act.isEnabled()
    win.cancel_jobs()
    wait_idle(qtbot, win)
    assert act.isEnabled() and not isolated["errors"]


def test_a_record_opened_with_gaps_filled_loses_its_table_error(qtbot, isolated, model_path, wfdb_samples,
                                                                monkeypatch):  # noqa: F811
    """v102s has 3 missing samples: the table's background fill marks it 'error' (no length);
    opened with its gaps filled and classified, the header showed the model's call while the table
    still said 'error'. The error's tooltip named the CLI's --fill-gaps."""
    from PySide6.QtCore import Qt

    from gui.panels.record_browser import PRED

    win = make_window(qtbot, model_path, isolated["settings"], open_samples=False)
    with qtbot.waitSignal(win.classified, timeout=120000):
        win.open_folder(str(wfdb_samples), select_first=True, remember=False)
    m = win.browser.model
    qtbot.waitUntil(lambda: "error" in m.data_["v102s"], timeout=120000)
    index = m.index(m.row_of["v102s"], PRED)
    tip = m.data(index, Qt.ItemDataRole.ToolTipRole)
    assert "missing" in tip and "--fill-gaps" not in tip and "open it" in tip
    asked = []
    monkeypatch.setattr("gui.dialogs.confirm", lambda parent, q, title="": asked.append(q) or True)
    with qtbot.waitSignal(win.classified, timeout=120000):
        win.open_record(str(wfdb_samples / "v102s.hea"))
    assert asked and win.rec.gaps_filled
    assert m.data(index) == win.pred[0] and m.data(m.index(m.row_of["v102s"], 1)) == "5.0 min"
    long_name = m.index(m.row_of["test01_00s"], 0)  # elided in its column: the full name as tooltip
    assert m.data(long_name, Qt.ItemDataRole.ToolTipRole) == "test01_00s"


def test_strip_tools_wait_for_a_record(qtbot, isolated, model_path):  # noqa: F811
    """With nothing open, Calipers drew on the empty grid and read 'Δt 800 ms ΔV 1.00 mV HR 75
    bpm', and Play stayed checked while nothing played."""
    win = make_window(qtbot, model_path, isolated["settings"], open_samples=False)
    d = win.display
    tools = (d.act_play, d.act_calipers, d.act_real, d.act_fit, d.act_free)
    assert not any(a.isEnabled() for a in tools)
    d.act_calipers.trigger()
    d.act_play.trigger()
    assert not d.act_calipers.isChecked() and not d.act_play.isChecked() and win.strip.caliper_info.text() == ""
    with qtbot.waitSignal(win.classified, timeout=60000):
        win.open_folder(str(SAMPLES), select_first=True, remember=False)
    assert all(a.isEnabled() for a in tools)
    d.act_calipers.trigger()
    assert "HR" in win.strip.caliper_info.text()


def test_training_on_the_bundled_samples_saves_outside_the_app(qtbot, isolated, model_path, monkeypatch,
                                                               tmp_path):  # noqa: F811
    """A relative 'Save as' went to the dataset's parent folder: for the bundled samples that is
    the app's resources/ (in a frozen bundle a temporary folder, gone at exit). No training runs
    here: the job is replaced by one that records its output path."""
    win = make_window(qtbot, model_path, isolated["settings"])
    wait_idle(qtbot, win)
    outs = []

    def fake_train_job(out, **_request):
        outs.append(out)
        return lambda progress, should_stop: {"out": out, "best": {"f1_mean_nao": 0.5}}

    monkeypatch.setattr(win.wb, "train_job", fake_train_job)
    monkeypatch.setenv("HOME", str(tmp_path))
    win.datasets.run_train({"split": "all", "arch": "default", "epochs": 1, "out": "mine.safetensors"})
    wait_idle(qtbot, win)
    assert outs == [str(tmp_path / "mine.safetensors")]
    assert not (SAMPLES.parent / "mine.safetensors").exists()
    other = tmp_path / "data" / "set"  # any other dataset: its parent folder, as before
    other.mkdir(parents=True)
    for f in SAMPLES.glob("A00001.*"):
        (other / f.name).write_bytes(f.read_bytes())
    with qtbot.waitSignal(win.datasetListed, timeout=60000):
        win.open_folder(str(other), select_first=False, remember=False)
    win.datasets.run_train({"split": "all", "arch": "default", "epochs": 1, "out": "mine.safetensors"})
    wait_idle(qtbot, win)
    assert outs[-1] == str(tmp_path / "data" / "mine.safetensors")


def test_a_cancelled_robustness_curve_stops_saying_running(qtbot, isolated, model_path):  # noqa: F811
    """Cancelled after its first ε, the Robustness tab kept 'running… success rate …' under a
    finished status bar ('… cancelled'). Now it says cancelled and keeps the finished ε values;
    a failure says failed (and its dialog)."""
    win = make_window(qtbot, model_path, isolated["settings"])
    wait_idle(qtbot, win)
    fast_attack(win, 0.01, steps=20, sap_steps=40)
    panel = win.dataset_panel
    win.show_dataset_tab(2)
    win.datasets.run_robustness("all", 12, "0.002, 0.005, 0.01, 0.02, 0.05")
    qtbot.waitUntil(lambda: "running…" in panel.rb_summary.text(), timeout=120000)
    win.cancel_jobs()
    wait_idle(qtbot, win)
    text = panel.rb_summary.text()
    assert "running" not in text and text.startswith("cancelled") and "ε 0.002 mV" in text
    assert panel.rb_run.isEnabled() and "cancelled" in win.status_msg.text()
    panel.show_robustness([])  # a new run, then a failure before its first ε
    panel.robustness_stopped("failed")
    assert panel.rb_summary.text() == "failed before the first ε finished"


def test_a_cancelled_training_says_what_is_saved(qtbot, isolated, model_path, monkeypatch, tmp_path):  # noqa: F811
    """Cancelled after an epoch, the Train tab still read '… about 8 min left' (and a new run kept
    the last run's 'Saved …' until its first epoch). No training here: a stub job reports one
    epoch, then waits to be cancelled."""
    import time
    from types import SimpleNamespace

    from engine.errors import Cancelled

    win = make_window(qtbot, model_path, isolated["settings"])
    wait_idle(qtbot, win)

    def fake_train_job(out, **_request):
        def fn(progress, should_stop):
            progress(1, 3, "epoch 1", data=SimpleNamespace(epoch=1, epochs=3, train_loss=0.9, best_f1=0.41,
                                                           best_epoch=1, eta_s=480.0, val={"f1_mean_nao": 0.41}))
            while not should_stop():
                time.sleep(0.01)
            raise Cancelled()
        return fn

    monkeypatch.setattr(win.wb, "train_job", fake_train_job)
    panel = win.dataset_panel
    panel.tr_summary.setText("Saved an earlier model")
    out = str(tmp_path / "m.safetensors")
    win.datasets.run_train({"split": "all", "arch": "default", "epochs": 3, "out": out})
    assert "Saved" not in panel.tr_summary.text()
    qtbot.waitUntil(lambda: "min left" in panel.tr_summary.text(), timeout=60000)
    win.cancel_jobs()
    wait_idle(qtbot, win)
    text = panel.tr_summary.text()
    assert "min left" not in text and "cancelled after epoch 1/3" in text and out in text


def test_dropping_a_file_that_is_no_record(qtbot, isolated, model_path):  # noqa: F811
    """A dropped notes.txt said 'no such record: …/notes.txt.hea not found'; a record's annotation
    file (A00009.qrs) opened nothing. Now: a one-line 'not a WFDB record', and the record whose
    file it is."""
    tmp = isolated["tmp"]
    win = make_window(qtbot, model_path, isolated["settings"])
    wait_idle(qtbot, win)
    (tmp / "notes.txt").write_text("hello")
    win.records.open_paths([str(tmp / "notes.txt")])
    msg = isolated["errors"][-1][0]
    assert msg == "notes.txt is not a WFDB record: open its .hea file (with its .dat or .mat), or a folder of records"
    for f in SAMPLES.glob("A00009.*"):
        (tmp / f.name).write_bytes(f.read_bytes())
    (tmp / "A00009.qrs").write_bytes(b"\x00\x00")
    with qtbot.waitSignal(win.recordShown, timeout=60000):
        win.records.open_paths([str(tmp / "A00009.qrs")])
    assert win.rec.name == "A00009" and len(isolated["errors"]) == 1


def test_splits_that_select_nothing_here_are_greyed_out(qtbot, isolated, model_path):  # noqa: F811
    """On the bundled samples the Attack evaluation, Robustness and Train tabs defaulted to the
    paper's splits, which hold none of them: pressing Run gave "no labelled records in split
    'paper-val'". Empty splits are now marked and disabled, and such a default moves to All."""
    from PySide6.QtCore import Qt

    win = make_window(qtbot, model_path, isolated["settings"])
    p = win.dataset_panel
    combos = (p.eval_split, p.ae_split, p.rb_split, p.tr_split, win.card_panel.split)
    for combo in combos:
        assert "none here" not in combo.currentText(), combo.currentText()
        i = combo.findData("paper-val")
        assert combo.itemText(i).endswith("none here") and not combo.model().item(i).isEnabled()
        i = combo.findData("all")
        assert combo.itemText(i) == "All records" and combo.itemData(i, Qt.ItemDataRole.ToolTipRole).startswith("12 ")
    assert p.ae_split.currentData() == "all" and p.rb_split.currentData() == "all"
    assert win.card_panel.split.currentData() == "strat-val"  # it holds some of the samples: kept


def test_a_typed_eps_is_the_eps_attacked(qtbot, isolated, model_path):  # noqa: F811
    """ε typed as 0.3 (no Enter) then Ctrl+R or the toolbar's Run Attack (which leaves the box its
    focus) attacked with the old 0.01 mV: the mV boxes commit on Enter or focus loss only. Same for
    the band's noise sd and Ctrl+B."""
    from PySide6.QtCore import Qt

    win = make_window(qtbot, model_path, isolated["settings"])
    win.activateWindow()
    qtbot.waitExposed(win)
    with qtbot.waitSignal(win.classified, timeout=120000):
        win.open_record(str(SAMPLES / "A00009"))
    fast_attack(win, 0.01, steps=4, sap_steps=4)
    eps = win.attack_panel.field("eps_mv")
    eps.setFocus()
    eps.lineEdit().selectAll()
    qtbot.keyClicks(eps.lineEdit(), "0.3")
    assert eps.value() == 0.01  # not committed yet
    with qtbot.waitSignal(win.attackFinished, timeout=120000):
        qtbot.keyClick(eps, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert win.result_params.eps_mv == 0.3 and "ε 0.3 mV" in win.attack_panel.verdict.text()
    noise = win.band_panel.noise
    noise.setFocus()
    noise.lineEdit().selectAll()
    qtbot.keyClicks(noise.lineEdit(), "0.02")
    assert win.band_panel.params() == (win.band_panel.trials.value(), 0.02)


def test_window_options_view_and_trials_fail_before_any_work(tmp_path, capsys):
    """`main.py --view abc --screenshot F` ran the whole screenshot and only warned; '--view 5,2'
    and '--trials 0' were taken silently. Now exit code 2 and one line, like --size, before any
    window (nothing written)."""
    from gui.app import run_gui

    shot = tmp_path / "s.png"
    for args, words in ((["--view", "abc"], "--view"), (["--view", "5,2"], "--view"),
                        (["--view", "0,nan"], "--view"), (["--trials", "0"], "--trials"),
                        (["--trials", "1000000"], "--trials")):
        assert run_gui([*args, "--screenshot", str(shot)]) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"error: {words}"), err
    assert not shot.exists()


def test_screenshot_with_a_view_still_works(tmp_path):
    """The valid --view path, end to end in a subprocess (its parsing moved before the window)."""
    import os
    import subprocess
    import sys

    shot = tmp_path / "v.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([sys.executable, "main.py", "--settings", str(tmp_path / "s.ini"), "--open",
                           str(SAMPLES / "A00009.hea"), "--model", "default", "--mode", "continuous", "--view",
                           "2,8", "--size", "800x600", "--screenshot", str(shot)],
                          cwd=SAMPLES.parent.parent, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "internal error" not in proc.stderr and shot.stat().st_size > 10000


def test_each_workflow_says_what_to_open_first_in_the_same_words(qtbot, isolated, model_path):  # noqa: F811
    """Attack and certify without a record, dataset actions without a dataset: one dialog each,
    naming what to open (the dataset tab said 'No model loaded.' where the attack said more)."""
    from gui.controllers.needs import NO_DATASET, NO_MODEL, NO_RECORD

    win = make_window(qtbot, model_path, isolated["settings"], open_samples=False)
    wait_idle(qtbot, win)
    win.attacks.run_attack()
    win.certifier.run(sigma_mv=0.1)
    win.datasets.run_evaluate("all")
    assert [m for m, _ in isolated["errors"]] == [NO_RECORD, NO_RECORD, NO_DATASET]
    with qtbot.waitSignal(win.classified, timeout=60000):
        win.open_folder(str(SAMPLES), select_first=True, remember=False)
    wait_idle(qtbot, win)
    isolated["errors"].clear()
    win.wb.model = None  # as after a checkpoint that failed to load
    win.attacks.run_attack()
    win.datasets.run_evaluate("all")
    assert [m for m, _ in isolated["errors"]] == [NO_MODEL, NO_MODEL]
    assert not win.is_busy()


def test_settings_option_never_overwrites_a_file_that_is_not_settings(tmp_path, capsys, monkeypatch):
    """`main.py --settings A00009.mat` (meant: --open) replaced the record's signal file with the
    window's INI settings when the window closed. A file that is not INI text, a folder, or a
    file in a missing folder is refused before any window: exit code 2, one line, nothing written."""
    import shutil

    from gui.app import run_gui

    rec = tmp_path / "A00009.mat"
    shutil.copy(SAMPLES / "A00009.mat", rec)
    labels = tmp_path / "REFERENCE.csv"
    labels.write_text("A00009,A\n")
    kept = {p: p.read_bytes() for p in (rec, labels)}
    shot = tmp_path / "s.png"
    for path in (rec, labels, tmp_path, tmp_path / "missing" / "s.ini"):
        assert run_gui(["--settings", str(path), "--screenshot", str(shot)]) == 2, path
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: --settings"), err
    assert {p: p.read_bytes() for p in kept} == kept and not shot.exists()
    monkeypatch.setenv("ECGADV_SETTINGS", str(rec))  # the same file named by the environment
    assert run_gui(["--screenshot", str(shot)]) == 2
    monkeypatch.delenv("ECGADV_SETTINGS")
    assert capsys.readouterr().err.startswith("error: ECGADV_SETTINGS")
    assert rec.read_bytes() == kept[rec]
    from gui.app import _settings_file_error

    ini = tmp_path / "s.ini"
    assert _settings_file_error(str(ini)) is None  # a new file
    ini.write_text("[General]\n; a comment\nmodel%2Fspec=default\n\n[dirs]\nrecord=/tmp/a b\n")
    assert _settings_file_error(str(ini)) is None  # an existing settings file
    ini.write_text("")
    assert _settings_file_error(str(ini)) is None
