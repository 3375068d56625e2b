"""The window's display options are built from the strip's layer declarations (gui.strip.layers),
saved in the settings, and follow the strip; the window's texts (gui.format)."""

from __future__ import annotations

from gui_fixtures import ROOT, isolated, model_path  # noqa: F401  (sets QT_QPA_PLATFORM and sys.path)


def _controls(qtbot, tmp_path):
    from PySide6.QtWidgets import QMainWindow

    from gui.display import DisplayControls
    from gui.settings import Settings
    from gui.strip import StripView

    win = QMainWindow()
    qtbot.addWidget(win)
    strip = StripView(win, toolbar=False)
    settings = Settings(str(tmp_path / "s.ini"))
    d = DisplayControls(win, strip, settings)
    d.window_ = win  # keep the owner alive as long as the controls
    return d, strip, settings


def test_layer_toggles_come_from_the_declarations(qtbot, tmp_path):
    from PySide6.QtGui import QKeySequence

    from gui.strip.layers import LAYER, LAYERS

    d, strip, settings = _controls(qtbot, tmp_path)
    d.load(settings)
    assert list(d.layer_actions) == list(LAYERS)
    for key, a in d.layer_actions.items():
        decl = LAYER[key]
        assert a.text() == decl.text and a.iconText() == decl.icon_text
        assert a.shortcut() == QKeySequence(decl.shortcut)
        assert a.isChecked() == decl.default_visible == strip.layer_visible(key)


def test_display_choices_are_saved_and_follow_the_strip(qtbot, tmp_path):
    from gui.strip.layers import LAYER, PERTURBATION_GAINS

    d, strip, settings = _controls(qtbot, tmp_path)
    d.load(settings)
    d.layer_actions["members"].setChecked(False)
    assert not strip.layer_visible("members") and settings.get(LAYER["members"].settings_key) is False
    strip.set_layer_visible("difference", True)  # e.g. a legend click
    assert d.layer_actions["difference"].isChecked() and settings.get(LAYER["difference"].settings_key)
    gain = min(PERTURBATION_GAINS)
    d.gain_combo.setCurrentIndex(d.gain_combo.findData(gain))
    assert strip.perturbation_gain() == gain and d.gain_actions[gain].isChecked()
    assert settings.get("view/perturbation_gain") == gain
    d.set_mode("continuous")
    assert strip.mode() == "continuous" and not d.row_spin.isEnabled()
    assert settings.get("view/mode") == "continuous"
    d2, strip2, _ = _controls(qtbot, tmp_path)  # the same settings file
    d2.load(settings)
    assert not strip2.layer_visible("members") and strip2.layer_visible("difference")
    assert strip2.perturbation_gain() == gain and strip2.mode() == "continuous"


def test_format_texts():
    from gui import format as fmt

    assert fmt.clock(65.4) == "1:05" and fmt.clock(3725) == "1:02:05"
    assert fmt.eta(0.2) == "<1 s" and fmt.eta(42) == "42 s" and fmt.eta(600) == "10 min" and fmt.eta(9000) == "2.5 h"
    assert fmt.record_header(None).startswith("No record open") and "Ctrl+O" in fmt.record_header(None)


def test_the_users_gain_survives_the_next_attack(qtbot, isolated, model_path):  # noqa: F811
    from gui_fixtures import fast_attack, make_window, wait_idle
    from gui.strip.layers import PERTURBATION_GAINS

    win = make_window(qtbot, model_path, isolated["settings"])
    wait_idle(qtbot, win, 120)
    fast_attack(win)
    with qtbot.waitSignal(win.attackFinished, timeout=120000):
        win.run_attack()
    auto = win.strip.perturbation_gain()
    chosen = next(g for g in PERTURBATION_GAINS if g != auto)
    d = win.display
    d.gain_combo.setCurrentIndex(d.gain_combo.findData(chosen))  # the user picks another gain
    assert win.strip.perturbation_gain() == chosen
    with qtbot.waitSignal(win.attackFinished, timeout=120000):
        win.run_attack()
    wait_idle(qtbot, win)
    qtbot.wait(50)
    assert win.strip.perturbation_gain() == chosen and d.gain_combo.currentData() == chosen
