"""The real main window end to end: open → classify → SAP attack → overlays → band → export
WFDB and PNG → re-open the exported record; settings remembered; about box."""

from __future__ import annotations

import os

from gui_fixtures import SAMPLES, fast_attack, isolated, make_window, model_path, wait_idle  # noqa: F401


def test_open_attack_band_export_reopen(qtbot, isolated, model_path, monkeypatch):  # noqa: F811
    win = make_window(qtbot, model_path, isolated["settings"])
    # the first sample is selected, drawn and classified; the table filled in the background
    assert win.rec is not None and win.rec.name == "A00001"
    assert win.strip.model.name == "A00001"
    assert win.pred is not None
    qtbot.waitUntil(lambda: all("pred" in win.browser.model.data_[n] for n in win.browser.names()), timeout=120000)
    assert win.browser.model.data_["A00001"]["duration"] == 30.0

    # open A00009 (AF) by path → shown and classified
    with qtbot.waitSignal(win.classified, timeout=120000):
        win.open_record(str(SAMPLES / "A00009"))
    assert win.rec.name == "A00009" and win.rec.label == "A"
    assert win.browser.current_name() == "A00009"
    assert win.model_panel.bars.orig is not None

    # SAP attack
    fast_attack(win)
    with qtbot.waitSignal(win.attackFinished, timeout=120000) as sig:
        win.run_attack()
    r = sig.args[0]
    assert r.success, f"attack did not fool the model: {r.orig_pred} → {r.adv_pred}"
    assert win.strip.has_layer("adversarial") and win.strip.layer_drawn("adversarial")
    assert win.strip.layer_drawn("perturbation")
    assert win.model_panel.bars.adv is not None
    assert "changed" in win.attack_panel.verdict.text()
    assert win.attack_panel.values["snr_db"].text().endswith("dB")
    assert win.browser.model.data_["A00009"]["status"] == "→ " + r.adv_pred
    assert win.band_panel.run.isEnabled()

    # band (small so the test stays fast)
    win.band_panel.trials.setValue(16)
    win.band_options = {"max_pairs": 8, "max_splices_per_pair": 2, "uniform_trials": 16}
    with qtbot.waitSignal(win.bandFinished, timeout=120000) as sig:
        win.run_band()
    b = sig.args[0]
    assert b.members.shape[0] >= 1
    assert win.strip.has_layer("band") and win.strip.layer_drawn("band")
    assert win.strip.has_layer("members")
    assert "/ 16" in win.band_panel.values["noise"].text()

    # export the adversarial example and the band as WFDB, the strip as PNG
    out = isolated["tmp"] / "export"
    with qtbot.waitSignal(win.exported, timeout=120000) as sig:
        win.export_adversarial(str(out))
    adv_base = sig.args[1]
    assert os.path.basename(adv_base) == "A00009_sap"
    header = open(adv_base + ".hea").read()
    assert "ecg-adv-workbench" in header and "source:" in header and "model:" in header
    assert '"eps_mv":0.3' in header
    with qtbot.waitSignal(win.exported, timeout=120000) as sig:
        win.export_band(str(out), members=2)
    paths = sig.args[1]
    assert os.path.isfile(paths["band"] + ".hea") and len(paths["members"]) == 2

    # exporting to the same folder again asks first; declining writes nothing and emits nothing
    from gui import dialogs

    asked: list[str] = []

    def decline(parent, question, *a, **k) -> bool:
        asked.append(question)
        return False

    monkeypatch.setattr(dialogs, "confirm", decline)
    written = {f: (out / f).read_bytes() for f in os.listdir(out)}
    emitted: list = []
    win.exported.connect(lambda *a: emitted.append(a))
    win.export_adversarial(str(out))
    win.export_band(str(out), members=2)
    wait_idle(qtbot, win)
    assert len(asked) == 2 and all("exists" in m for m in asked), asked
    assert "A00009_sap.hea" in asked[0] and "A00009_sap_band.hea" in asked[1]
    assert not emitted and {f: (out / f).read_bytes() for f in os.listdir(out)} == written
    monkeypatch.setattr(dialogs, "confirm", lambda *a, **k: True)
    png = isolated["tmp"] / "strip.png"
    with qtbot.waitSignal(win.exported, timeout=120000):
        win.export_strip(str(png))
    assert png.stat().st_size > 10000
    with open(png, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    for ext, magic in (("svg", b"<?xml"), ("pdf", b"%PDF")):
        path = isolated["tmp"] / f"strip.{ext}"
        win.export_strip(str(path))
        with open(path, "rb") as fh:
            assert fh.read(5).startswith(magic[:4])

    # re-open the exported record: it lists its folder and reads the provenance
    with qtbot.waitSignal(win.recordShown, timeout=120000):
        win.open_record(adv_base + ".hea")
    assert win.rec.name == "A00009_sap"
    assert any("ecg-adv-workbench" in c for c in win.rec.comments)
    qtbot.waitUntil(lambda: win.browser.folder == str(out), timeout=120000)
    assert win.browser.current_name() == "A00009_sap"
    qtbot.waitUntil(lambda: win.pred is not None, timeout=120000)
    assert win.pred[0] == r.adv_pred  # saved on the ADC grid, still adversarial when read back
    assert os.path.abspath(adv_base + ".hea") in win.settings.recent_files()
    assert not isolated["errors"]


def test_pgd_attack_and_display_options_are_remembered(qtbot, isolated, model_path):  # noqa: F811
    win = make_window(qtbot, model_path, isolated["settings"])
    fast_attack(win, method="pgd", steps=5)
    with qtbot.waitSignal(win.attackFinished, timeout=120000):
        win.run_attack()
    assert win.result_method == "pgd"
    win.layer_actions["difference"].setChecked(True)
    win.layer_actions["members"].setChecked(False)
    win.display.set_mode("continuous")
    win.close()

    from gui.main_window import MainWindow
    from gui.settings import Settings

    win2 = MainWindow(Settings(isolated["settings"]), model_spec=model_path, open_samples=False)
    qtbot.addWidget(win2)
    assert win2.attack_panel.method_key() == "pgd"
    assert abs(win2.attack_panel.field("eps_mv").value() - 0.3) < 1e-9
    assert win2.attack_panel.field("steps").value() == 5
    assert win2.layer_actions["difference"].isChecked()
    assert not win2.layer_actions["members"].isChecked()
    assert win2.display.mode_combo.currentData() == "continuous"
    assert win2.settings.get("model/spec") == model_path
    wait_idle(qtbot, win2)


def test_about_box_and_real_error_dialog(qtbot, isolated, model_path):  # noqa: F811
    win = make_window(qtbot, model_path, isolated["settings"], open_samples=False)
    wait_idle(qtbot, win)
    from gui import dialogs
    from gui.dialogs import about_html

    html = about_html("9.9", win.clf.name, "CPU")
    assert "PhysioNet" in html and "MIT" in html and "9.9" in html and win.clf.name in html
    dlg = win.show_about()
    assert dlg.isVisible()
    assert dlg.tabs.count() == 2 and dlg.tabs.tabText(1) == "Model card"
    assert "Architecture" in dlg.tabs.widget(1).toPlainText()  # engine.model_card's card
    dlg.close()
    # the real (non-blocking) error box: one line, details behind "Show Details…"
    import importlib

    real = importlib.reload(dialogs)
    box = real.show_error(win, "cannot read record", "Traceback …")
    assert box.text() == "cannot read record" and "Traceback" in box.detailedText()
    box.close()


def test_two_lead_record_with_gaps(qtbot, isolated, model_path, monkeypatch):  # noqa: F811
    """A record with missing samples: the app offers to interpolate (confirmed here; the offer is
    decided by the error's type, engine.errors.MissingSamples), says so in the header, and lets
    the user switch to the other lead."""
    import numpy as np
    import wfdb

    from gui import dialogs

    asked = []
    monkeypatch.setattr(dialogs, "confirm", lambda parent, question, title="": asked.append(question) or True)

    t = np.arange(9000) / 300.0
    ecg = (np.sin(2 * np.pi * 1.2 * t) ** 63 * 1000).astype(np.int64)  # spiky, ~72 bpm, in µV
    d = np.stack([ecg, (ecg * 0.6).astype(np.int64)], axis=1)
    d[4000:4030, 0] = -32768  # WFDB's "no sample" value for format 16: 0.1 s gap in lead I
    folder = isolated["tmp"] / "gaps"
    folder.mkdir()
    wfdb.wrsamp("G1", fs=300, units=["mV", "mV"], sig_name=["I", "II"], d_signal=d, fmt=["16", "16"],
                adc_gain=[1000.0, 1000.0], baseline=[0, 0], write_dir=str(folder))
    win = make_window(qtbot, model_path, isolated["settings"], open_samples=False)
    wait_idle(qtbot, win, 120)
    with qtbot.waitSignal(win.classified, timeout=120000):
        win.open_record(str(folder / "G1.hea"))
    assert win.rec.name == "G1" and win.rec.lead == "I" and win.rec.gaps_filled
    assert len(asked) == 1 and "30 samples are missing (longest gap 0.10 s)" in asked[0]
    assert "--fill-gaps" not in asked[0]  # the CLI's advice is not shown in the GUI
    assert "interpolated" in win.header.full_text()
    assert not np.isnan(win.rec.x_mv).any()
    assert win.lead_combo.isVisibleTo(win) and win.lead_combo.count() == 2
    win.browser.update_row("G1", status="→ O", status_tip="SAP on I", fooled=True)  # as an attack on I leaves it
    win.lead_combo.setCurrentIndex(1)
    with qtbot.waitSignal(win.classified, timeout=120000):
        win.lead_combo.activated.emit(1)
    assert win.rec.lead == "II"
    # the row's attack status was lead I's (the strip dropped that attack): gone, not shown beside II's prediction
    row = win.browser.model.data_["G1"]
    assert not row.get("status") and not row.get("fooled") and row.get("pred")
    assert not isolated["errors"]


def test_screenshot_mode(tmp_path, model_path):  # noqa: F811
    """`main.py --screenshot FILE --open RECORD --attack sap --band` renders the window and exits."""
    import subprocess
    import sys

    from gui_fixtures import ROOT

    out = tmp_path / "shot.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "ECGADV_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), "--screenshot", str(out), "--open",
                           str(SAMPLES / "A00009"), "--attack", "sap", "--band", "--model", model_path,
                           "--eps", "0.3", "--trials", "8", "--size", "1200x800"],
                          cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "wrote" in proc.stderr
    with open(out, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    from PySide6.QtGui import QImage

    img = QImage(str(out))
    assert (img.width(), img.height()) == (1200, 800)
    # an existing file is not replaced without --overwrite (refused before any work)
    again = subprocess.run([sys.executable, str(ROOT / "main.py"), "--screenshot", str(out)], cwd=str(ROOT), env=env,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and again.stderr.startswith("error:") and "--overwrite" in again.stderr
    assert again.stderr.count("\n") == 1


def test_band_procedure_paper_code_from_the_panel(qtbot, isolated, model_path):  # noqa: F811
    """The band panel's "Procedure" runs the authors' variant; it is remembered in the settings."""
    win = make_window(qtbot, model_path, isolated["settings"])
    with qtbot.waitSignal(win.classified, timeout=120000):
        win.open_record(str(SAMPLES / "A00009"))
    fast_attack(win)
    with qtbot.waitSignal(win.attackFinished, timeout=120000) as sig:
        win.run_attack()
    assert sig.args[0].success
    panel = win.band_panel
    panel.style_box.setCurrentIndex(panel.style_box.findData("paper-code"))
    panel.trials.setValue(12)
    win.band_options = {"max_pairs": 4, "max_splices_per_pair": 2, "uniform_trials": 12}
    with qtbot.waitSignal(win.bandFinished, timeout=120000) as sig:
        win.run_band()
    b = sig.args[0]
    assert b.style == "paper-code"
    assert "Paper-code band" in panel.width_label.text() or "no band" in panel.width_label.text()
    if not b.noise["adversarial"]:
        assert "no band" in panel.values["uniform"].text()
    assert win.settings.get("band/style") == "paper-code"


def test_attack_panel_paper_protocol_builds_the_engine_target_map(qtbot):
    from engine.attacks.base import PAPER_TARGET_MAP
    from engine.workbench import jobs
    from gui.panels.attack_panel import PAPER_PROTOCOL, AttackPanel

    panel = AttackPanel()
    qtbot.addWidget(panel)
    panel.target.setCurrentIndex(panel.target.findData(PAPER_PROTOCOL))
    p = jobs.attack_params(panel.params())
    assert p.target is None and p.target_map == PAPER_TARGET_MAP
    panel.target.setCurrentIndex(panel.target.findData("N"))
    p = jobs.attack_params(panel.params())
    assert p.target == "N" and p.target_map == ()


def test_attack_panel_is_generated_from_the_registry(qtbot, tmp_path):
    """One widget per declared parameter with its default and range; the ones the chosen attack
    does not read are disabled; values reach AttackParams and the settings round trip."""
    from engine.attacks.registry import ATTACKS, all_params, param
    from engine.workbench import jobs
    from gui.panels.attack_panel import AttackPanel
    from gui.settings import Settings

    panel = AttackPanel()
    qtbot.addWidget(panel)
    assert [panel.method.itemData(i) for i in range(panel.method.count())] == list(ATTACKS)
    for p in all_params():
        w = panel.field(p.attr)
        value = w.isChecked() if p.kind is bool else w.value()
        assert value == p.default, p.attr
        capped = p.kind is int and p.hi > w.maximum()  # a QSpinBox stops at a C int: its tooltip says so
        assert (f"and {w.maximum()}" if capped else p.range_text()) in w.toolTip(), p.attr
    for name, spec in ATTACKS.items():
        panel.method.setCurrentIndex(panel.method.findData(name))
        reads = {p.attr for p in spec.params}
        assert {p.attr for p in all_params() if panel.field(p.attr).isEnabled()} == reads
    panel.field("eps_mv").setValue(0.05)
    panel.field("steps").setValue(7)
    p = jobs.attack_params(panel.params())
    assert p.eps_mv == 0.05 and p.steps == 7
    s = Settings(str(tmp_path / "s.ini"))
    panel.save(s)
    other = AttackPanel()
    qtbot.addWidget(other)
    other.load(s)
    assert other.params() == panel.params()
    s.set("attack/eps_mv", 99.0)  # out of the declared range: the default is kept
    other.load(s)
    assert other.field("eps_mv").value() == param("eps_mv").default
