"""The QThread job worker on its own: results, progress, errors, cancel, priorities, shutdown."""

from __future__ import annotations

import threading
import time

from gui_fixtures import ROOT  # noqa: F401  (sets QT_QPA_PLATFORM and sys.path)

from engine.errors import Cancelled, UserError
from gui.worker import BACKGROUND, WorkerHost


def test_job_result_progress_and_thread(qtbot):
    host = WorkerHost()
    seen = {"progress": [], "thread": None, "done": None}
    main = threading.get_ident()

    def job(progress, should_stop):
        seen["thread"] = threading.get_ident()
        for i in range(5):
            progress(i + 1, 5, f"step {i + 1}")
            time.sleep(0.04)
        return 42

    host.jobProgress.connect(lambda j, d, t, m: seen["progress"].append((d, t, m)))
    with qtbot.waitSignal(host.jobEnded, timeout=5000):
        host.submit(job, "demo", on_done=lambda r: seen.__setitem__("done", r))
    qtbot.waitUntil(lambda: seen["done"] is not None, timeout=2000)
    assert seen["done"] == 42
    assert seen["thread"] != main
    assert seen["progress"] and seen["progress"][-1][:2] == (5, 5)
    assert host.shutdown()


def test_errors_become_one_line_messages(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    host = WorkerHost()
    got = []

    def bad_user(progress, should_stop):
        raise UserError("no such   record:\n x.hea")

    def bad_bug(progress, should_stop):
        return 1 / 0

    host.submit(bad_user, "a", on_error=lambda one, det, typ: got.append((one, det, typ)))
    host.submit(bad_bug, "b", on_error=lambda one, det, typ: got.append((one, det, typ)))
    qtbot.waitUntil(lambda: len(got) == 2, timeout=5000)
    assert got[0][0] == "no such record: x.hea"
    assert type(got[0][2]) is UserError and type(got[1][2]) is ZeroDivisionError  # decide by type, not text
    # a bug: one line naming the crash log, which holds the traceback
    assert got[1][0].startswith("internal error (ZeroDivisionError")
    (log,) = (tmp_path / "ecg-adv").glob("crash-*.log")
    assert str(log) in got[1][0]
    assert "Traceback" in got[1][1] and "bad_bug" in log.read_text() and "job: b" in log.read_text()
    assert "\n" not in got[1][0]
    host.shutdown()


def test_cancel_running_job_and_queue_continues(qtbot):
    host = WorkerHost()
    state = {"cancelled": False, "second": None, "started": threading.Event()}

    def long_job(progress, should_stop):
        state["started"].set()
        for _ in range(1000):
            if should_stop():
                raise Cancelled("stop")
            time.sleep(0.01)
        return "finished"

    jid = host.submit(long_job, "long", on_done=lambda r: state.__setitem__("cancelled", "no"),
                      on_cancel=lambda: state.__setitem__("cancelled", True))
    host.submit(lambda p, s: "next", "second", on_done=lambda r: state.__setitem__("second", r))
    assert state["started"].wait(5)
    t0 = time.monotonic()
    host.cancel(jid)
    qtbot.waitUntil(lambda: state["second"] == "next", timeout=5000)
    assert state["cancelled"] is True
    assert time.monotonic() - t0 < 2.0
    host.shutdown()


def test_user_jobs_run_before_background_jobs(qtbot):
    host = WorkerHost()
    order = []
    gate = threading.Event()

    def blocker(progress, should_stop):
        gate.wait(5)
        return None

    host.submit(blocker, "blocker")
    for i in range(3):
        host.submit(lambda p, s, i=i: order.append(f"bg{i}"), "bg", priority=BACKGROUND, group="fill")
    host.submit(lambda p, s: order.append("user"), "user")
    gate.set()
    qtbot.waitUntil(lambda: len(order) == 4, timeout=5000)
    assert order[0] == "user"
    host.shutdown()


def test_shutdown_mid_job_stops_the_thread(qtbot):
    host = WorkerHost()
    started = threading.Event()
    stopped = threading.Event()

    def long_job(progress, should_stop):
        started.set()
        while not should_stop():
            time.sleep(0.01)
        stopped.set()
        raise Cancelled("closing")

    host.submit(long_job, "long")
    host.submit(lambda p, s: None, "queued")
    assert started.wait(5)
    t0 = time.monotonic()
    assert host.shutdown(timeout_ms=5000)
    assert time.monotonic() - t0 < 2.0
    assert stopped.is_set()
    assert not host.thread.isRunning()
    assert host.submit(lambda p, s: None, "late") == -1  # closed: nothing more is taken
