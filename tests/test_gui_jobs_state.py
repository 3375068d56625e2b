"""Job state in one place: every job ends exactly once with a signal (done, failed, cancelled,
dropped, replaced), and the window's busy state, derived from it, never gets stuck."""

from __future__ import annotations

import threading

from gui_fixtures import SAMPLES, fast_attack, isolated, make_window, model_path, wait_idle  # noqa: F401
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import Cancelled
from gui.worker import WorkerHost


def _blocker(gate: threading.Event, started: threading.Event | None = None):
    def fn(progress, should_stop):
        if started is not None:
            started.set()
        while not gate.wait(0.01):
            if should_stop():
                raise Cancelled("stop")
        return "blocker"
    return fn


def test_queued_job_dropped_by_cancel_ends_with_a_signal(qtbot):
    host = WorkerHost()
    gate, started = threading.Event(), threading.Event()
    ends, cancelled = [], []
    host.jobEnded.connect(lambda j, how, info: ends.append((j, how, info.kind)))
    host.submit(_blocker(gate, started), "running", kind="dataset")
    assert started.wait(5)
    queued = host.submit(lambda p, s: "never", "queued", kind="attack", on_cancel=lambda: cancelled.append(1))
    assert {j.kind for j in host.jobs()} == {"dataset", "attack"}
    host.cancel(queued)
    assert (queued, "dropped", "attack") in ends  # at once, in the GUI thread
    assert cancelled == [1]  # its panel can reset itself
    assert [j.kind for j in host.jobs()] == ["dataset"]
    gate.set()
    qtbot.waitUntil(lambda: not host.jobs(), timeout=5000)
    assert [how for _, how, _k in ends] == ["dropped", "done"]
    host.shutdown()


def test_replaced_job_ends_with_a_signal(qtbot):
    host = WorkerHost()
    gate, started = threading.Event(), threading.Event()
    ends = []
    host.jobEnded.connect(lambda j, how, info: ends.append((j, how)))
    host.submit(_blocker(gate, started), "running")
    assert started.wait(5)
    first = host.submit(lambda p, s: 1, "open 1", group="open", replace_group=True, kind="open")
    second = host.submit(lambda p, s: 2, "open 2", group="open", replace_group=True, kind="open")
    assert (first, "replaced") in ends
    assert [j.job_id for j in host.jobs() if j.kind == "open"] == [second]
    gate.set()
    qtbot.waitUntil(lambda: not host.jobs(), timeout=5000)
    assert (second, "done") in ends
    host.shutdown()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(st.tuples(st.sampled_from(["submit", "submit_group", "cancel", "cancel_group", "cancel_all"]),
                              st.integers(0, 5)), max_size=12))
def test_every_job_ends_exactly_once(qtbot, ops):
    """Any mix of submits and cancels: each job id gets one end, and no job is left behind."""
    host = WorkerHost()
    gate, started = threading.Event(), threading.Event()
    ends: list[int] = []
    host.jobEnded.connect(lambda j, how, info: ends.append(j))
    try:
        _run_ops(qtbot, host, gate, started, ends, ops)
    finally:
        gate.set()
        host.shutdown()


def _run_ops(qtbot, host, gate, started, ends, ops) -> None:
    ids = [host.submit(_blocker(gate, started), "blocker")]
    assert started.wait(5)
    for op, k in ops:
        if op == "submit":
            ids.append(host.submit(lambda p, s: None, "job", kind="attack"))
        elif op == "submit_group":
            ids.append(host.submit(lambda p, s: None, "grp", group="g", replace_group=bool(k % 2), kind="open"))
        elif op == "cancel":
            host.cancel(ids[k % len(ids)])
        elif op == "cancel_group":
            host.cancel_group("g")
        else:
            host.cancel_all()
    gate.set()
    qtbot.waitUntil(lambda: not host.jobs(), timeout=5000)
    qtbot.wait(20)
    assert sorted(ends) == sorted(ids)


def _hold_worker(win) -> threading.Event:
    """Occupy the worker with a user job until the returned event is set."""
    gate, started = threading.Event(), threading.Event()
    win.submit(_blocker(gate, started), "Holding the worker", kind="dataset")
    assert started.wait(10)
    return gate


def test_esc_with_a_queued_attack_leaves_nothing_stuck(qtbot, isolated, model_path):  # noqa: F811
    win = make_window(qtbot, model_path, isolated["settings"])
    wait_idle(qtbot, win, 120)
    gate = _hold_worker(win)
    fast_attack(win)
    win.run_attack()  # queued behind the running job
    assert win.busy_kinds() == {"dataset", "attack"}
    assert not win.attack_panel.run.isEnabled()
    win.act_cancel.trigger()  # Esc
    qtbot.waitUntil(lambda: not win.is_busy(), timeout=10000)
    gate.set()
    assert win.busy_kinds() == set()
    assert not win.cancel_btn.isVisible() and not win.act_cancel.isEnabled()
    assert win.attack_panel.run.isEnabled() and win.act_attack.isEnabled()
    assert win.browser.model.data_[win.rec.name]["status"] == "cancelled"
    assert not isolated["errors"]
    # the app keeps working: the attack can run again
    ends = []
    win.host.jobEnded.connect(lambda j, how, info: ends.append((info.title, how)))
    win.errorShown.connect(lambda m: ends.append(("error", m)))
    try:
        with qtbot.waitSignal(win.attackFinished, timeout=120000):
            win.run_attack()
    except Exception:
        print("jobs ended:", ends, "busy:", win.busy_kinds(), "status:", win.status_msg.text(),
              "pending:", win.host.worker.pending(), "running:", win.host.running_job())
        raise


def test_replaced_open_jobs_do_not_stay_busy(qtbot, isolated, model_path):  # noqa: F811
    win = make_window(qtbot, model_path, isolated["settings"])
    wait_idle(qtbot, win, 120)
    gate = _hold_worker(win)
    win.open_record(str(SAMPLES / "A00005"))
    win.open_record(str(SAMPLES / "A00013"))  # replaces the queued open of A00005
    assert win.busy_kinds() == {"dataset", "open"}
    gate.set()
    qtbot.waitUntil(lambda: win.rec is not None and win.rec.name == "A00013", timeout=60000)
    wait_idle(qtbot, win, 60)
    assert win.busy_kinds() == set()
    assert not win.cancel_btn.isVisible()
    assert win.act_attack.isEnabled()
