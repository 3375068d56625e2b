"""Any screen size: at 1280×720 and 1366×768 nothing is clipped. The Analysis panel scrolls without
cutting its controls at the right, the header lines stay one line each, the display bar's controls
are reachable, the Band section can be scrolled to; empty dataset views say what to do and actions
that cannot work are disabled with a tooltip that says why."""

from __future__ import annotations

import pytest

from gui_fixtures import isolated, make_window, model_path, wait_idle  # noqa: F401


def _settle(qtbot, win, w: int, h: int) -> None:
    win.resize(w, h)
    qtbot.waitUntil(lambda: win.width() == w and win.height() == h, timeout=5000)
    for _ in range(5):
        qtbot.wait(20)


def _rect_in(widget, container):
    """`widget`'s rect in `container`'s coordinates."""
    from PySide6.QtCore import QRect

    return QRect(widget.mapTo(container, widget.rect().topLeft()), widget.size())


@pytest.mark.parametrize("size", [(1280, 720), (1366, 768)])
def test_nothing_clipped_on_a_laptop_screen(qtbot, isolated, model_path, size):  # noqa: F811
    win = make_window(qtbot, model_path, isolated["settings"])
    wait_idle(qtbot, win)
    _settle(qtbot, win, *size)
    assert win.frameGeometry().width() <= size[0] + 20 and win.width() == size[0]  # the window fits

    # the Analysis panel: its content is never wider than the scroll area's viewport
    scroll = win.side_scroll
    vp = scroll.viewport()
    side = scroll.widget()
    assert side.width() <= vp.width(), (side.width(), vp.width())
    assert side.minimumSizeHint().width() <= vp.width()
    # every control of the Attack and Band panels can be scrolled into view, whole
    controls = ([win.attack_panel.method, win.attack_panel.target, win.attack_panel.run]
                + list(win.attack_panel.fields.values()) + [win.band_panel.run, win.band_panel.trials])
    for c in controls:
        scroll.ensureWidgetVisible(c, 0, 0)
        qtbot.wait(5)
        r = _rect_in(c, vp)
        assert vp.rect().contains(r), (type(c).__name__, r, vp.rect())

    # the header lines: one line each (the compact text when the full one does not fit)
    for lab in (win.header, win.subheader):
        line = lab.fontMetrics().lineSpacing()
        assert lab.height() < 2 * line + 4, (lab.text(), lab.height(), line)
        assert not lab.wordWrap()
    assert win.rec.name in win.header.text()
    assert "reference label" in win.header.full_text()  # the full text stays available (tooltip)

    # the display bar: every control is inside the window or behind the bar's extension button
    bar = win.display_bar
    central = win.centralWidget()
    assert central.rect().contains(_rect_in(bar, central))
    from PySide6.QtWidgets import QToolButton

    ext = [b for b in bar.findChildren(QToolButton) if b.objectName() == "qt_toolbar_ext_button"]
    hidden = [a for a in bar.actions() if a.isVisible() and bar.widgetForAction(a) is not None
              and not bar.widgetForAction(a).isVisible()]
    if hidden:
        assert ext and ext[0].isVisible()  # the » button shows the rest
    # the strip keeps a usable size
    assert win.strip.width() >= 400 and win.strip.height() >= 300


def test_empty_dataset_views_say_what_to_do(qtbot, isolated, model_path, tmp_path):  # noqa: F811
    win = make_window(qtbot, model_path, isolated["settings"], open_samples=False)
    d = win.dataset_panel
    # before any dataset: the actions say why they are off
    assert not d.eval_run.isEnabled() and "open a folder" in d.eval_run.toolTip()
    # no blank 4×4 table before an evaluation: a short text instead
    for box in (d.confusion_box, d.ae_box, d.rb_box, d.tr_box):
        assert box.is_empty() and box.hint.text()
    assert "Evaluate model" in d.confusion_box.hint.text()

    # the bundled samples are labelled: enabled
    with qtbot.waitSignal(win.datasetListed, timeout=60000):
        win.open_folder(str(__import__("gui_fixtures").SAMPLES), select_first=False, remember=False)
    wait_idle(qtbot, win)
    assert d.eval_run.isEnabled() and d.tr_run.isEnabled()

    # a folder without labels: Evaluate disabled, the tooltip says why
    import shutil

    from gui_fixtures import SAMPLES

    folder = tmp_path / "unlabelled"
    folder.mkdir()
    for f in SAMPLES.glob("A00001.*"):
        shutil.copy(f, folder / f.name)
    with qtbot.waitSignal(win.datasetListed, timeout=60000):
        win.open_folder(str(folder), select_first=False, remember=False)
    wait_idle(qtbot, win)
    for b in (d.eval_run, d.ae_run, d.rb_run, d.tr_run):
        assert not b.isEnabled() and "No labelled records" in b.toolTip()
    assert "0 labelled" in d.source.text()

    # after an evaluation the table replaces the text
    d.show_evaluation({"f1": {"N": 1.0, "A": 0.0, "O": 0.0, "~": 0.0}, "confusion": [[1, 0, 0, 0]] + [[0] * 4] * 3,
                       "model": "m", "n": 1, "accuracy": 1.0, "f1_mean_nao": 0.33})
    assert not d.confusion_box.is_empty()
