"""The GUI's last-resort guard: a bug in a slot or in a worker job shows one line naming a crash
log with the traceback, and the app keeps running."""

from __future__ import annotations

import sys

import pytest
from gui_fixtures import SAMPLES, isolated, make_window, model_path, wait_idle  # noqa: F401


@pytest.mark.qt_no_exception_capture
def test_exception_in_a_slot_shows_one_line_and_logs(qtbot, tmp_path, monkeypatch):
    from PySide6.QtCore import QTimer

    from gui import guard

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    shown = []
    previous = guard.install_excepthook(lambda line, details: shown.append((line, details)))
    try:
        def buggy_slot():
            raise RuntimeError("slot bug\nsecond line")

        QTimer.singleShot(0, buggy_slot)
        qtbot.waitUntil(lambda: bool(shown), timeout=5000)
        after = []
        QTimer.singleShot(0, lambda: after.append(True))  # the event loop still runs
        qtbot.waitUntil(lambda: bool(after), timeout=5000)
    finally:
        sys.excepthook = previous
    (line, details), = shown
    (log,) = (tmp_path / "ecg-adv").glob("crash-*.log")
    assert "\n" not in line and line.startswith("internal error (RuntimeError: slot bug second line)")
    assert str(log) in line
    text = log.read_text()
    assert "Traceback" in text and "buggy_slot" in text and "buggy_slot" in details


def test_bug_in_a_job_shows_one_line_dialog_and_the_window_keeps_working(qtbot, isolated, model_path):  # noqa: F811
    win = make_window(qtbot, model_path, isolated["settings"], open_samples=False)
    wait_idle(qtbot, win)

    def buggy_job(progress, should_stop):
        return {}["missing key"]

    with qtbot.waitSignal(win.errorShown, timeout=30000) as sig:
        win.submit(buggy_job, "Buggy job", kind="dataset")
    line = sig.args[0]
    assert line.startswith("internal error (KeyError") and "\n" not in line
    (log,) = (isolated["tmp"] / "xdg-cache" / "ecg-adv").glob("crash-*.log")
    assert str(log) in line and "buggy_job" in log.read_text()
    assert isolated["errors"][-1][0] == line and "Traceback" in isolated["errors"][-1][1]
    assert not win.is_busy()
    with qtbot.waitSignal(win.classified, timeout=60000):
        win.open_record(str(SAMPLES / "A00001"))
