"""Engine jobs use every core while the window is idle and all but one just after the user's input;
the window stays responsive (a 10 ms timer never stalls 100 ms) with the idle thread count."""

from __future__ import annotations

import time

from gui_fixtures import Watchdog, fast_attack, isolated, make_window, model_path, wait_idle  # noqa: F401


def test_policy_all_cores_when_idle_one_free_after_input(qtbot, monkeypatch):
    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QMouseEvent

    from gui.threads import ComputeThreads

    monkeypatch.delenv("ECGADV_THREADS", raising=False)
    pol = ComputeThreads(idle_after_s=0.2, cores=4)
    monkeypatch.setattr(ComputeThreads, "others_busy", lambda self: False)  # a quiet machine
    assert pol.idle() and pol.wanted() == 4
    ev = QMouseEvent(QEvent.Type.MouseMove, QPointF(1, 1), QPointF(1, 1), Qt.MouseButton.NoButton,
                     Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    assert pol.eventFilter(None, ev) is False  # observed, never swallowed
    assert not pol.idle() and pol.wanted() == 3
    time.sleep(0.25)
    assert pol.wanted() == 4
    assert ComputeThreads(cores=1).wanted() == 1
    pol.note_input()
    assert ComputeThreads(cores=1, idle_after_s=10).wanted() == 1  # never zero
    monkeypatch.setenv("ECGADV_THREADS", "3")
    assert pol.wanted() == 3
    monkeypatch.delenv("ECGADV_THREADS")
    time.sleep(0.25)
    monkeypatch.setattr(ComputeThreads, "others_busy", lambda self: True)  # other programs use a core
    assert pol.idle() and pol.wanted() == 3


def test_others_busy_reads_the_load_average(monkeypatch):
    import os

    from gui.threads import ComputeThreads

    pol = ComputeThreads(cores=2)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.3, 0.3, 0.3))
    assert not pol.others_busy()
    monkeypatch.setattr(os, "getloadavg", lambda: (2.5, 2, 2))
    assert pol.others_busy()
    pol.current = 2  # our own two threads make most of that load
    assert not pol.others_busy()


def test_jobs_get_every_core_when_idle(qtbot, isolated, model_path, monkeypatch):  # noqa: F811
    import torch

    from gui.threads import ComputeThreads

    monkeypatch.delenv("ECGADV_THREADS", raising=False)
    monkeypatch.setattr(ComputeThreads, "others_busy", lambda self: False)  # as on a quiet machine
    win = make_window(qtbot, model_path, isolated["settings"])
    wait_idle(qtbot, win, 120)
    cores = win.threads.cores
    assert cores and cores == max(1, win.threads.cores)
    seen = []
    win.threads.last_input = float("-inf")  # idle (opening the samples moved the strip)
    win.submit(lambda progress, stop: seen.append(torch.get_num_threads()), "probe", kind="probe")
    wait_idle(qtbot, win)
    assert seen == [cores]  # the window was idle: every core (the old code kept one free)
    # the model panel names the machine's cores, the status bar the threads jobs run with
    import os
    import re

    n = os.cpu_count() or 1
    assert win.model_panel.device.text() == f"Device: CPU ({n} core{'s' if n != 1 else ''})"
    assert re.fullmatch(r"CPU \(\d+ threads?\)", win.job_status.device.text()), win.job_status.device.text()

    win.threads.note_input()  # the user just moved the mouse
    win.submit(lambda progress, stop: seen.append(torch.get_num_threads()), "probe", kind="probe")
    wait_idle(qtbot, win)
    assert seen[-1] == max(1, cores - 1)
    win.threads.last_input = float("-inf")


def test_window_responsive_with_every_core(qtbot, isolated, model_path, monkeypatch):  # noqa: F811
    monkeypatch.delenv("ECGADV_THREADS", raising=False)
    win = make_window(qtbot, model_path, isolated["settings"])
    wait_idle(qtbot, win, 120)
    win.threads.last_input = float("-inf")  # idle: the attack runs on every core
    fast_attack(win, eps_mv=0.3, steps=30, sap_steps=30)
    dog = Watchdog(10)
    dog.start()
    with qtbot.waitSignal(win.attackFinished, timeout=120000):
        win.run_attack()
    qtbot.wait(200)
    dog.stop()
    assert win.threads.changes >= 1 and win.threads.current in (win.threads.cores, max(1, win.threads.cores - 1))
    assert dog.ticks > 20
    assert dog.max_gap < 0.100, f"GUI thread blocked for {1000 * dog.max_gap:.0f} ms"


def test_moving_the_strip_leaves_a_core_free(qtbot, isolated, model_path, monkeypatch):  # noqa: F811
    """Panning the strip (a key press on the real widget) counts as input: the next job step gets all
    cores but one; once the window has been idle for idle_after_s, every core again."""
    from PySide6.QtCore import Qt

    from gui.threads import ComputeThreads

    monkeypatch.delenv("ECGADV_THREADS", raising=False)
    monkeypatch.setattr(ComputeThreads, "others_busy", lambda self: False)
    win = make_window(qtbot, model_path, isolated["settings"])
    wait_idle(qtbot, win, 120)
    win.threads.cores = 4
    win.threads.idle_after_s = 0.5
    win.threads.last_input = float("-inf")
    assert win.threads.wanted() == 4
    win.strip.setFocus()
    qtbot.keyClick(win.strip, Qt.Key.Key_Right)  # pan
    assert win.threads.wanted() == 3
    qtbot.wait(600)
    assert win.threads.wanted() == 4
    win.strip.crosshair.moved.emit(1.0, 0.0)  # the mouse over the strip
    assert win.threads.wanted() == 3
    win.threads.last_input = float("-inf")
