"""Non-ECG channels in the window: never classified or attacked without an explicit confirmation;
the header names the channel as not ECG and says which part of the record the model saw."""

from __future__ import annotations

import numpy as np
import pytest

from gui_fixtures import fast_attack, isolated, make_window, model_path, wait_idle  # noqa: F401


def _mixed_record(folder, n_s: float = 30.0, fs: float = 300.0):
    """A record with an ECG lead (II, mV) and a pleth channel (PLETH, NU)."""
    import wfdb

    n = int(n_s * fs)
    t = np.arange(n) / fs
    ecg = (800 * np.sin(2 * np.pi * 1.2 * t) ** 21 + 30 * np.sin(2 * np.pi * 0.3 * t)).astype(np.int64)
    pleth = (500 + 300 * np.sin(2 * np.pi * 1.2 * t)).astype(np.int64)
    wfdb.wrsamp("mixed", fs=fs, units=["mV", "NU"], sig_name=["II", "PLETH"],
                d_signal=np.stack([ecg, pleth], 1), fmt=["16", "16"], adc_gain=[1000.0, 100.0],
                baseline=[0, 0], write_dir=str(folder))
    return folder / "mixed.hea"


def _open(qtbot, win, path, lead=None):
    with qtbot.waitSignal(win.recordShown, timeout=60000):
        win.records.load_record(str(path), win.records.show_record, lead=lead)


def test_non_ecg_channel_needs_a_confirmation(qtbot, isolated, model_path, monkeypatch):  # noqa: F811
    from gui import dialogs

    asked = []
    answer = {"yes": False}

    def confirm(parent, question, title="Confirm"):
        asked.append((title, question))
        return answer["yes"]

    monkeypatch.setattr(dialogs, "confirm", confirm)
    win = make_window(qtbot, model_path, isolated["settings"], open_samples=False)
    folder = isolated["tmp"] / "rec"
    folder.mkdir()
    path = _mixed_record(folder)

    # the ECG lead: classified without a question, the header says what the model saw
    with qtbot.waitSignal(win.classified, timeout=60000):
        _open(qtbot, win, path)
    assert win.rec.lead == "II" and not asked
    assert "saw" in win.subheader.full_text() and "not ECG" not in win.header.full_text()

    # PLETH, declined: not classified, not attacked, the header says why
    _open(qtbot, win, path, lead="PLETH")
    wait_idle(qtbot, win)
    assert win.rec.lead == "PLETH"
    assert len(asked) == 1 and "PLETH is not an ECG channel" in asked[0][1]
    assert win.pred is None
    assert "PLETH [NU] (not ECG)" in win.header.full_text() and "Not classified" in win.subheader.full_text()
    fast_attack(win)
    win.run_attack()
    assert len(asked) == 2 and not win.is_busy() and win.result is None

    # confirmed: classified and attacked, asked once for this record and channel
    answer["yes"] = True
    with qtbot.waitSignal(win.classified, timeout=60000):
        win.records.classify_current()
    assert len(asked) == 3 and win.pred is not None
    with qtbot.waitSignal(win.attackFinished, timeout=120000):
        win.run_attack()
    assert len(asked) == 3
    wait_idle(qtbot, win)


@pytest.mark.parametrize("detail, expect, absent", [
    ({"window": [0.0, 30.0], "duration_s": 30.0, "cropped": False, "padded": False}, "saw the whole record",
     "only"),
    ({"window": [10.5, 19.5], "duration_s": 60.0, "cropped": True, "padded": False}, "saw 0:10–0:20 of 1:00 only",
     "whole"),
    ({"window": [0.0, 5.0], "duration_s": 5.0, "cropped": False, "padded": True, "saturated": True,
      "saturated_fraction": 0.031}, "3.1 % saturated", "only"),
    ({"window": [0.0, 120.0], "duration_s": 120.0, "windows": [[0, 60], [60, 120]]}, "2 windows", "only"),
    (None, "", "saw"),
])
def test_model_window_text(detail, expect, absent):
    from gui.format import model_window

    text = model_window(detail)
    assert expect in text and (absent not in text or not expect)


def test_a_record_without_ecg_lead_offers_its_channel(qtbot, isolated, model_path, monkeypatch):  # noqa: F811
    import wfdb

    from gui import dialogs

    asked = []
    monkeypatch.setattr(dialogs, "confirm", lambda parent, q, title="": asked.append((title, q)) or True)
    win = make_window(qtbot, model_path, isolated["settings"], open_samples=False)
    folder = isolated["tmp"] / "pleth"
    folder.mkdir()
    t = np.arange(3000) / 100.0
    wfdb.wrsamp("ponly", fs=100.0, units=["NU"], sig_name=["PLETH"],
                d_signal=(500 + 300 * np.sin(2 * np.pi * 1.2 * t)).astype(np.int64)[:, None], fmt=["16"],
                adc_gain=[100.0], baseline=[0], write_dir=str(folder))
    with qtbot.waitSignal(win.recordShown, timeout=60000):
        win.open_record(str(folder / "ponly.hea"))
    wait_idle(qtbot, win)
    assert win.rec.lead == "PLETH"
    assert asked[0][0] == "No ECG lead" and "PLETH [NU]" in asked[0][1]
    assert asked[1][0] == "Not an ECG channel"  # classifying it asks too
    assert not isolated["errors"]
