"""Issue 14 in the window: rates with their 95 % intervals (attack evaluation, robustness curve with
error bars, per-class rates and the α rule), both band procedures side by side, ε and max |δ| in
one unit, the strip export's range / dpi / header, the paper's calibration in the status bar, free
zoom, a non-mV channel without a 1 mV pulse, and drawing that follows the Workbench's events."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from gui_fixtures import SAMPLES, fast_attack, isolated, make_window, model_path, wait_idle  # noqa: F401


def _rate(k, n, lo, hi):
    return {"attacked": n, "success": k, "success_rate": k / n, "success_ci95": [lo, hi]}


# ---- panels (no window) -------------------------------------------------------------------------

def test_attack_eval_shows_the_interval_column_and_format_rate(qtbot):
    from gui.panels.dataset_panel import DatasetPanel

    p = DatasetPanel()
    qtbot.addWidget(p)
    res = {"method": "sap", "eps_mv": 0.01, "target": "untargeted", "n": 30, "correct": 28,
           "attacked": 28, "success": 16, "success_rate": 16 / 28, "success_ci95": [0.372, 0.755],
           "per_class": {"A": _rate(3, 4, 0.194, 0.994), "N": {"attacked": 0, "success": 0,
                                                               "success_rate": None, "success_ci95": None}},
           "misclassified": {"attacked": 0}}
    p.show_attack_eval(res)
    t = p.ae_table
    assert t.columnCount() == 4 and t.horizontalHeaderItem(3).text() == "95 % CI"
    rows = {t.verticalHeaderItem(i).text(): i for i in range(t.rowCount())}
    assert t.item(rows["All correctly classified"], 3).text() == "37.2–75.5 %"
    a_row = next(i for name, i in rows.items() if name.startswith("A "))
    assert t.item(a_row, 3).text() == "19.4–99.4 %"
    n_row = next(i for name, i in rows.items() if name.startswith("N "))
    assert t.item(n_row, 3).text() == "—" and t.item(n_row, 2).text() == "—"
    assert "57.1% (16/28, 95% CI" in p.ae_summary.text()


def test_robustness_error_bars_per_class_and_alpha_rule(qtbot):
    from gui.panels.dataset_panel import DatasetPanel

    p = DatasetPanel()
    qtbot.addWidget(p)
    table = [{"eps_mv": e, "alpha_mv": e / 10, "per_class": {"A": _rate(1, 2, 0.013, 0.987)}, **_rate(k, 10, lo, hi)}
             for e, k, lo, hi in ((0.005, 2, 0.025, 0.556), (0.01, 5, 0.187, 0.813), (0.05, 9, 0.555, 0.997))]
    p.show_robustness(table, done=True, alpha_rule="ratio:0.1")
    bars = p.rb_errors
    assert bars.isVisible()
    x, y = bars.opts["x"], bars.opts["y"]
    np.testing.assert_allclose(x, np.log10([0.005, 0.01, 0.05]))  # log10 by hand: the plot's x is log ε
    np.testing.assert_allclose(y, [20, 50, 90])
    np.testing.assert_allclose(bars.opts["top"], [35.6, 31.3, 9.7], atol=1e-9)
    np.testing.assert_allclose(bars.opts["bottom"], [17.5, 31.3, 34.5], atol=1e-9)
    text = p.rb_summary.text()
    assert "ε 0.01 mV: 50.0% (5/10, 95% CI" in text
    assert "α = 0.1 · ε" in text
    tip = p.rb_summary.toolTip()
    assert "Per true class" in tip and "A 50.0% (1/2" in tip
    # a partial table (no rule given yet): the rule is read off α / ε of its rows
    p.show_robustness(table[:1])
    assert "running" in p.rb_summary.text() and "α = 0.1 · ε" in p.rb_summary.text()


def test_band_panel_both_procedures_side_by_side(qtbot):
    from gui.panels.band_panel import BOTH, BandPanel

    p = BandPanel()
    qtbot.addWidget(p)
    p.show()
    assert p.style_box.findData(BOTH) >= 0
    rep = {"workbench": {"noise": {"trials": 16, "adversarial": 12, "fraction": 0.75},
                         "concat": {"splices": 4, "adversarial": 4, "fraction": 1.0},
                         "uniform": {"trials": 16, "adversarial": 16, "fraction": 1.0, "centre_adversarial": True},
                         "centre_margin": 1.25},
           "paper-code": {"noise": {"trials": 16, "adversarial": 0, "fraction": 0.0},
                          "concat": {"splices": 0, "adversarial": 0}, "uniform": {"trials": 0},
                          "centre_margin": None}}
    p.show_both(rep)
    assert all(h.isVisible() for h in p.col_heads)
    assert p.values["noise"].text() == "12/16 (75 %)"
    assert p.values2["noise"].text() == "0/16 (0 %)"
    assert p.values["centre"].text() == "adversarial (margin +1.25)"  # a bare "+1.25" said not what it was
    assert p.values2["uniform"].text() == "no band" and p.values2["centre"].text() == "no band"
    p.show_result(SimpleNamespace(noise={"trials": 16, "adversarial": 12, "fraction": 0.75},
                                  concat={"splices": 0}, uniform={"trials": 16, "adversarial": 0, "fraction": 0.0},
                                  members=np.zeros((13, 5)), style="workbench"))
    assert not p.col_heads[0].isVisible() and p.values["noise"].text() == "12 / 16  (75.0 %)"
    p.clear()
    assert not p.col_heads[0].isVisible() and not p.values2["noise"].isVisible()


def test_eps_and_max_delta_in_one_unit(qtbot):
    from gui.panels.attack_panel import AttackPanel

    p = AttackPanel()
    qtbot.addWidget(p)
    r = SimpleNamespace(success=True, orig_pred="A", adv_pred="N",
                        measures={"linf_mv": 0.01, "l2_mv": 0.2, "snr_db": 40.0, "prd": 1.0, "smoothness": 1e-6,
                                  "square_wave": 0.9})
    p.show_result(r, "pgd", 0.01)
    assert p.values["linf_mv"].text() == "0.0100 mV"
    assert p.field("eps_mv").suffix().strip() == "mV" and "ε 0.01 mV" in p.verdict.text()


def test_strip_export_dialog_options(qtbot):
    from gui.dialogs import StripExportDialog

    d = StripExportDialog(None, "png", 30.0, (5.0, 15.0))
    qtbot.addWidget(d)
    assert d.options() == {"t0": None, "t1": None, "dpi": 300}
    d.current.setChecked(True)
    assert d.options()["t0"] == 5.0 and d.options()["t1"] == 15.0
    d.custom.setChecked(True)
    assert d.t0.isEnabled()
    d.t0.setValue(12.0)
    d.t1.setValue(10.0)
    d._accept()
    assert d.result() == 0 and "end after" in d.error.text()  # an empty range is not accepted
    d.t1.setValue(20.0)
    d.dpi.setValue(150)
    assert d.options() == {"t0": 12.0, "t1": 20.0, "dpi": 150}
    assert not StripExportDialog(None, "pdf", 30.0, (0, 10)).dpi.isEnabled()


def test_strip_export_dialog_stays_open_on_an_export_the_writer_would_refuse(qtbot):
    """A 30-min record as PNG: the whole record is too large at 300 dpi. The dialog chose it and
    closed, the export failed, and the user had to go through the file dialog again; now the
    current view is chosen at first, and OK on a refused choice keeps the dialog open."""
    from gui.dialogs import StripExportDialog

    def check(o):
        return "a 3272×107268 px image is too large" if o["t0"] is None else ""

    d = StripExportDialog(None, "png", 1800.0, (5.0, 15.0), check=check)
    qtbot.addWidget(d)
    assert d.current.isChecked() and "Whole record: a 3272" in d.error.text()
    d.whole.setChecked(True)
    d._accept()
    assert d.result() == 0 and d.error.text() == "a 3272×107268 px image is too large"
    d.current.setChecked(True)
    d._accept()
    assert d.result() == 1 and d.options()["t0"] == 5.0
    fine = StripExportDialog(None, "png", 30.0, (5.0, 15.0), check=lambda o: "")
    qtbot.addWidget(fine)
    assert fine.whole.isChecked() and fine.error.text() == ""


def test_non_mv_channel_has_no_pulse_and_names_its_unit(qtbot):
    from gui.strip import StripView

    v = StripView(toolbar=False)
    qtbot.addWidget(v)
    v.resize(900, 500)
    x = (np.sin(np.linspace(0, 60, 3000)) * 0.5).astype(np.float32)
    v.set_record(x, 300.0, "ecg")
    m = v.model
    assert m.units == "mV" and m.pulse_lines([0], -0.5)[0].size > 0
    v.set_record(x, 300.0, "pleth", units="NU")
    assert m.units == "NU"
    assert m.pulse_lines([0], -0.5)[0].size == 0
    px = v.renderer.pulse.getData()[0]
    assert px is None or len(px) == 0
    v.set_mode("continuous")
    labels = [t for _y, t in m.left_ticks(-10, 10, 40.0)]
    assert labels and all(t.endswith(" NU") for t in labels)
    assert v._left_axis.labelText == "NU"
    assert "NU" in v.info.text()
    from gui.strip.calipers import format_readout

    assert "ΔV 1.00 NU" in format_readout({"dt_ms": 800, "dmv": 1.0, "hr_bpm": 75}, "NU")
    assert v.paper_spec().units == "NU"


def test_status_bar_paper_label(qtbot):
    from PySide6.QtWidgets import QMainWindow

    from gui.status import JobStatus
    from gui.worker import WorkerHost

    w = QMainWindow()
    qtbot.addWidget(w)
    host = WorkerHost(w)
    try:
        js = JobStatus(w.statusBar(), host)
        js.set_paper(True)
        assert js.paper.text() == ""
        js.set_paper(False)
        assert "not calibrated" in js.paper.text()
        js.set_paper(True, "NU")
        assert "NU" in js.paper.text()
    finally:
        host.shutdown()


# ---- the window ----------------------------------------------------------------------------------

def test_free_zoom_action_and_calibration_label(qtbot, isolated, model_path):  # noqa: F811
    win = make_window(qtbot, model_path, isolated["settings"])
    wait_idle(qtbot, win, 120)
    d = win.display
    view_menu = next(a.menu() for a in win.menuBar().actions() if a.text() == "&View")
    assert d.act_free in view_menu.actions()
    assert win.job_status.paper.text() == ""
    d.act_free.setChecked(True)
    assert win.strip.free_zoom() and win.strip.mode() == "continuous"
    win.strip.zoom(0.5)  # free zoom: x alone, the squares are no longer square
    qtbot.waitUntil(lambda: not win.strip.is_calibrated(), timeout=5000)
    qtbot.waitUntil(lambda: "not calibrated" in win.job_status.paper.text(), timeout=5000)
    d.act_free.setChecked(False)
    assert not win.strip.free_zoom()
    qtbot.waitUntil(lambda: win.job_status.paper.text() == "", timeout=5000)


def test_export_dialog_range_dpi_and_header(qtbot, isolated, model_path, monkeypatch):  # noqa: F811
    from gui import dialogs

    win = make_window(qtbot, model_path, isolated["settings"])
    wait_idle(qtbot, win, 120)
    fast_attack(win)
    with qtbot.waitSignal(win.attackFinished, timeout=120000):
        win.run_attack()
    calls = []
    real_png = win.strip.export_png
    monkeypatch.setattr(win.strip, "export_png", lambda path, **kw: (calls.append(kw), real_png(path, **kw)))
    out = isolated["tmp"] / "part.png"
    monkeypatch.setattr(dialogs, "ask_save_file", lambda *a, **k: str(out))
    checks = []
    monkeypatch.setattr(dialogs, "ask_strip_export", lambda parent, ext, dur, view, dpi=300, check=None:
                        (checks.append(check), {"t0": 2.0, "t1": 7.0, "dpi": 100})[1])
    with qtbot.waitSignal(win.exported, timeout=60000):
        win.act_export_strip.trigger()
    (kw,) = calls
    # the dialog's check is the writer's own: this range is fine, the whole record at 2400 dpi is not
    (check,) = checks
    assert check({"t0": 2.0, "t1": 7.0, "dpi": 100}) == ""
    assert "too large" in check({"t0": None, "t1": None, "dpi": 2400})
    assert kw["t0"] == 2.0 and kw["t1"] == 7.0 and kw["dpi"] == 100
    h = kw["header"]
    assert h["record"] == win.rec.name and h["attack"] == "SAP" and h["eps_mv"] == 0.3 and h["model"]
    from PySide6.QtGui import QImage

    img = QImage(str(out))
    # 5 s at 25 mm/s on one row, 100 dpi: far narrower than the whole record's 10-s rows would be
    assert 0 < img.width() < 10 * 25 / 25.4 * 100 + 2 * 8 / 25.4 * 100 + 200
    # cancelled dialog: nothing written
    monkeypatch.setattr(dialogs, "ask_strip_export", lambda *a, **k: None)
    win.act_export_strip.trigger()
    assert len(calls) == 1


def test_drawing_follows_workbench_events_and_both_bands(qtbot, isolated, model_path, monkeypatch):  # noqa: F811
    from gui.panels.band_panel import BOTH

    win = make_window(qtbot, model_path, isolated["settings"])
    wait_idle(qtbot, win, 120)
    counts = {"set_record": 0, "set_adversarial": 0, "set_band": 0}
    for name in counts:
        real = getattr(win.strip, name)

        def wrapped(*a, _real=real, _name=name, **k):
            counts[_name] += 1
            return _real(*a, **k)

        monkeypatch.setattr(win.strip, name, wrapped)
    with qtbot.waitSignal(win.classified, timeout=60000):
        win.open_record(str(SAMPLES / "A00009"))
    wait_idle(qtbot, win)
    assert counts["set_record"] == 1  # one new record, drawn once
    fast_attack(win)
    with qtbot.waitSignal(win.attackFinished, timeout=120000):
        win.run_attack()
    assert counts["set_adversarial"] == 1 and counts["set_record"] == 1
    b_attack = {"r": win.wb.attack_result, "p": win.wb.params}
    # a result set on the session by anyone is drawn: the band of "Both" as the workbench band
    win.band_panel.style_box.setCurrentIndex(win.band_panel.style_box.findData(BOTH))
    win.band_panel.trials.setValue(16)
    win.band_options = {"max_pairs": 4, "max_splices_per_pair": 2, "uniform_trials": 16}
    with qtbot.waitSignal(win.bandFinished, timeout=180000) as sig:
        win.run_band()
    b = sig.args[0]
    assert b.style == "workbench" and win.wb.band_result is b
    assert counts["set_band"] == 1 and win.strip.has_layer("band")
    assert win.band_panel.col_heads[1].isVisible()
    assert "/16" in win.band_panel.values["noise"].text() and "/16" in win.band_panel.values2["noise"].text()
    # dropping the attack on the session clears the strip back to the record, once
    win.wb.set_attack(None, None, None)
    qtbot.waitUntil(lambda: not win.strip.has_layer("adversarial"), timeout=5000)
    assert counts["set_record"] == 2 and win.band_panel.values["noise"].text() == "—"
    # an attack result put on the session by anyone (not the controller's job) is drawn
    r, p = b_attack["r"], b_attack["p"]
    with qtbot.waitSignal(win.attackFinished, timeout=10000):
        win.wb.set_attack("sap", r, p)
    assert counts["set_adversarial"] == 2 and win.strip.has_layer("adversarial")
    assert "changed" in win.attack_panel.verdict.text()
    assert not isolated["errors"], isolated["errors"]


def test_show_record_passes_the_channel_unit(qtbot, isolated, model_path):  # noqa: F811
    from engine.workbench.jobs import OpenedRecord

    win = make_window(qtbot, model_path, isolated["settings"], open_samples=False)
    x = (500 + 300 * np.sin(np.linspace(0, 60, 9000))).astype(np.float32) / 100
    rec = OpenedRecord(path=str(isolated["tmp"] / "p.hea"), name="pleth", fs=300.0, x_mv=x, lead="PLETH", gain=100.0,
                       label=None, duration_s=30.0, n_leads=1, comments=[], leads=[("PLETH", False)], units="NU")
    win.records.show_record(rec)
    wait_idle(qtbot, win)
    assert win.strip.model.units == "NU"
    assert len(win.strip.model.pulse_lines([0], -1.0)[0]) == 0
    assert "NU" in win.job_status.paper.text()


def test_attack_panel_builds_any_declared_parameter(qtbot):
    """The attack panel is generated from engine.attacks.registry: a parameter kind or scale it does
    not know yet still gets a working input (text), and small floats keep their digits."""
    from PySide6.QtWidgets import QDoubleSpinBox, QLineEdit, QSpinBox

    from engine.attacks.params import Param
    from gui.panels.params import param_widget, set_value as _set_value, value_of as _value

    tiny = param_widget(Param("tau", "--tau", "τ", "", 2e-6, 1e-7, 1.0, "a tiny float", kind=float, step=1e-6))
    qtbot.addWidget(tiny)
    assert isinstance(tiny, QDoubleSpinBox) and tiny.value() == 2e-6 and tiny.singleStep() == 1e-6
    text = param_widget(Param("norm", "--norm", "Norm", "", "linf", 0, 0, "which norm", kind=str))
    qtbot.addWidget(text)
    assert isinstance(text, QLineEdit) and _value(text) == "linf"
    _set_value(text, "l2")
    assert _value(text) == "l2"
    n = param_widget(Param("k", "--k", "K", "", 5, 1, 100, "an int", kind=int, step=5))
    qtbot.addWidget(n)
    assert isinstance(n, QSpinBox) and n.singleStep() == 5


def test_a_bad_value_typed_as_text_is_a_dialog_not_a_job(qtbot, isolated, model_path):  # noqa: F811
    from PySide6.QtWidgets import QLineEdit

    win = make_window(qtbot, model_path, isolated["settings"])
    wait_idle(qtbot, win, 120)
    panel = win.attack_panel
    panel.fields["steps"] = QLineEdit("many")  # as the panel builds a parameter kind it has no input for
    win.run_attack()
    assert isolated["errors"] and "--steps must be a whole number" in isolated["errors"][-1][0]
    assert not win.is_busy() and win.result is None
    panel.fields["steps"].setText("12")
    assert panel.params()["steps"] == 12
