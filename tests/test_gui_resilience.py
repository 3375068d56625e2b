"""The window under stress: cancel mid-attack, a corrupt file, closing during a job, and a
watchdog proving the GUI thread never blocks for more than 100 ms while an attack runs."""

from __future__ import annotations

import time

from gui_fixtures import SAMPLES, Watchdog, fast_attack, isolated, make_window, model_path, wait_idle  # noqa: F401

LONG = 10000  # attack steps (the spin box maximum): far more than a test lets run


def _start_long_attack(qtbot, win) -> None:
    fast_attack(win, steps=LONG, sap_steps=0, method="pgd")
    win.run_attack()
    # wait until the attack reports progress (it is really running in the worker)
    qtbot.waitUntil(lambda: win.progress.isVisible() and win.progress.maximum() == LONG and
                    win.progress.value() >= 2, timeout=120000)


def test_cancel_mid_attack(qtbot, isolated, model_path):  # noqa: F811
    win = make_window(qtbot, model_path, isolated["settings"])
    wait_idle(qtbot, win, 120)
    name = win.rec.name
    _start_long_attack(qtbot, win)
    assert win.cancel_btn.isVisible() and win.act_cancel.isEnabled()
    assert not win.attack_panel.run.isEnabled()  # no second attack while one runs
    t0 = time.monotonic()
    win.cancel_btn.click()
    qtbot.waitUntil(lambda: not win.is_busy(), timeout=30000)
    assert time.monotonic() - t0 < 10
    assert win.result is None
    assert win.browser.model.data_[name]["status"] == "cancelled"
    assert "cancelled" in win.attack_panel.verdict.text().lower()
    assert "cancelled" in win.status_msg.text()
    assert not win.progress.isVisible()
    assert not isolated["errors"]
    # the app keeps working: a short attack now runs to the end
    fast_attack(win)
    with qtbot.waitSignal(win.attackFinished, timeout=120000):
        win.run_attack()
    assert win.result is not None


def test_corrupt_file_shows_error_and_app_keeps_working(qtbot, isolated, model_path):  # noqa: F811
    win = make_window(qtbot, model_path, isolated["settings"])
    bad = isolated["tmp"] / "bad"
    bad.mkdir()
    (bad / "X1.hea").write_text("X1 1 300 9000\nX1.dat 16 1000/mV 16 0 0 0 0 ECG\n")
    (bad / "X1.dat").write_bytes(b"\x00\x01" * 100)  # truncated: 100 of 9000 samples
    (bad / "X2.hea").write_text("this is not a header\n")
    with qtbot.waitSignal(win.errorShown, timeout=60000) as sig:
        win.open_record(str(bad / "X1.hea"))
    assert "truncated" in sig.args[0] or "shorter" in sig.args[0]
    assert isolated["errors"] and "\n" not in isolated["errors"][-1][0]
    assert win.rec.name == "A00001"  # the previous record is still shown
    with qtbot.waitSignal(win.errorShown, timeout=60000):
        win.open_record(str(bad / "X2.hea"))
    with qtbot.waitSignal(win.errorShown, timeout=60000):
        win.open_record(str(bad / "missing.hea"))
    # a broken model file: error, and the previous model stays in use
    junk = isolated["tmp"] / "junk.safetensors"
    junk.write_bytes(b"not a model at all")
    clf = win.clf
    with qtbot.waitSignal(win.errorShown, timeout=60000):
        win.load_model(str(junk))
    assert win.clf is clf
    assert len(isolated["errors"]) == 4
    # still working: open a good record and classify it
    with qtbot.waitSignal(win.classified, timeout=60000):
        win.open_record(str(SAMPLES / "A00013"))
    assert win.rec.name == "A00013"


def test_close_during_attack_exits_cleanly(qtbot, isolated, model_path):  # noqa: F811
    win = make_window(qtbot, model_path, isolated["settings"])
    wait_idle(qtbot, win, 120)
    _start_long_attack(qtbot, win)
    thread = win.host.thread
    t0 = time.monotonic()
    assert win.close()
    assert time.monotonic() - t0 < 10
    assert not thread.isRunning()
    assert not isolated["errors"]
    import os

    assert os.path.isfile(isolated["settings"])  # settings written on close


def test_gui_thread_never_blocks_during_attack(qtbot, isolated, model_path):  # noqa: F811
    win = make_window(qtbot, model_path, isolated["settings"])
    wait_idle(qtbot, win, 120)
    fast_attack(win, eps_mv=0.3, steps=30, sap_steps=30)
    dog = Watchdog(10)
    dog.start()
    with qtbot.waitSignal(win.attackFinished, timeout=120000):
        win.run_attack()
    qtbot.wait(200)  # include drawing the result
    dog.stop()
    assert dog.ticks > 20
    assert dog.max_gap < 0.100, f"GUI thread blocked for {1000 * dog.max_gap:.0f} ms"
