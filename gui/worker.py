"""Engine work off the GUI thread: one QObject worker living in a QThread, with a job queue.

A job is a plain callable `fn(progress, should_stop) -> result`:
  progress(done, total, msg="", data=None)  reports how far it got (called from the worker
                                 thread); `data`, when given, is delivered as is (on_partial);
  should_stop() -> bool          is True once the job was cancelled or the app is closing.
Engine functions raise engine.errors.Cancelled when should_stop() turns True; UserError carries a
one-line message for the user. Results, failures and progress come back as Qt signals (queued to
the GUI thread); the worker never touches a widget.

Jobs have a priority (lower runs first; user actions 0, background fill 10) and an optional
`group`: submitting with `replace_group=True` drops the queued jobs of that group (for example
predictions for a dataset that was closed).

Every job ends exactly once, with a signal saying how: "done", "failed", "cancelled" (stopped
while running, or before it started), "dropped" (taken off the queue by a cancel) or "replaced"
(taken off the queue by a newer job of its group). `WorkerHost.jobs()` is the one record of which
jobs are queued or running; the window derives its busy state from it.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal, Slot

from engine.errors import Cancelled, UserError

USER, BACKGROUND = 0, 10


class End(str, Enum):
    """How a job ended (the `how` of WorkerHost.jobEnded)."""

    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"  # stopped while running (or before it started)
    DROPPED = "dropped"  # removed from the queue by cancel / cancel_group / cancel_all
    REPLACED = "replaced"  # removed from the queue by a newer job of its group


@dataclass
class JobInfo:
    """What the host knows of a queued or running job (GUI thread only)."""

    job_id: int
    title: str
    kind: str
    priority: int
    group: str | None
    started_at: float | None = None  # time.monotonic() when it started running; None while queued

    @property
    def running(self) -> bool:
        return self.started_at is not None


@dataclass(order=True)
class _Entry:
    priority: int
    seq: int
    job_id: int = field(compare=False)
    title: str = field(compare=False)
    fn: Callable = field(compare=False)
    group: str | None = field(compare=False, default=None)
    cancel: threading.Event = field(compare=False, default_factory=threading.Event)


def describe_exception(exc: BaseException, context: str = "") -> tuple[str, str]:
    """(one-line reason, details) for an exception raised by a job. An unexpected one (not a
    UserError: a bug) is written with its traceback to a crash log that the line names."""
    if isinstance(exc, UserError):
        return str(exc), str(exc)
    from .guard import crash_report

    return crash_report(exc, context)


class EngineWorker(QObject):
    """Runs queued jobs one after the other in its own thread."""

    started = Signal(int, str, int)  # job_id, title, priority
    progress = Signal(int, int, int, str)  # job_id, done, total, msg
    partial = Signal(int, object)  # job_id, intermediate data (e.g. an epoch report)
    finished = Signal(int, object)  # job_id, result
    failed = Signal(int, str, str, object)  # job_id, one-line reason, details, the exception
    cancelled = Signal(int)  # job_id
    dropped = Signal(int, str)  # job_id, End.DROPPED or End.REPLACED (a queued job that never ran)
    idle = Signal()
    _wake = Signal()

    def __init__(self, init: Callable[[], None] | None = None, tune: Callable[[], object] | None = None) -> None:
        super().__init__()
        self._init = init  # run once in the worker thread before the first job
        self._tune = tune  # run in the worker thread at each job's start and between its steps (threads)
        self._tuned_at = 0.0
        self._lock = threading.Lock()
        self._heap: list[_Entry] = []
        self._seq = itertools.count()
        self._ids = itertools.count(1)
        self._current: _Entry | None = None
        self._closing = threading.Event()
        self._wake.connect(self._drain)  # queued: the worker lives in another thread

    # ---- called from the GUI thread -------------------------------------------------------
    def submit(self, fn: Callable, title: str = "", priority: int = USER, group: str | None = None,
               replace_group: bool = False) -> int:
        if self._closing.is_set():
            return -1
        job_id = next(self._ids)
        gone: list[int] = []
        with self._lock:
            if replace_group and group is not None:
                gone = self._drop_locked(lambda e: e.group == group)
            heapq.heappush(self._heap, _Entry(priority, next(self._seq), job_id, title, fn, group))
        self._report_dropped(gone, End.REPLACED)
        self._wake.emit()
        return job_id

    def cancel(self, job_id: int | None = None) -> None:
        """Cancel one job (queued or running); None cancels the running user job."""
        gone: list[int] = []
        with self._lock:
            cur = self._current
            if job_id is None:
                if cur is not None:
                    cur.cancel.set()
            elif cur is not None and cur.job_id == job_id:
                cur.cancel.set()
            else:
                gone = self._drop_locked(lambda e: e.job_id == job_id)
        self._report_dropped(gone, End.DROPPED)

    def cancel_group(self, group: str) -> None:
        with self._lock:
            gone = self._drop_locked(lambda e: e.group == group)
            if self._current is not None and self._current.group == group:
                self._current.cancel.set()
        self._report_dropped(gone, End.DROPPED)

    def cancel_all(self) -> None:
        with self._lock:
            gone = self._drop_locked(lambda e: True)
            if self._current is not None:
                self._current.cancel.set()
        self._report_dropped(gone, End.DROPPED)

    def close(self) -> None:
        """Stop taking jobs and make the running one stop at its next check."""
        self._closing.set()
        self.cancel_all()

    def pending(self) -> int:
        with self._lock:
            return len(self._heap) + (self._current is not None)

    def user_waiting(self) -> bool:
        """True when a job more urgent than background work is queued (for yielding)."""
        with self._lock:
            return any(e.priority < BACKGROUND for e in self._heap)

    def running_job(self) -> tuple[int, str, int] | None:
        with self._lock:
            c = self._current
            return None if c is None else (c.job_id, c.title, c.priority)

    def _drop_locked(self, which: Callable[[_Entry], bool]) -> list[int]:
        """Remove the queued jobs `which` selects; their ids (call with the lock held)."""
        gone = [e.job_id for e in self._heap if which(e)]
        if gone:
            self._heap = [e for e in self._heap if not which(e)]
            heapq.heapify(self._heap)
        return gone

    def _report_dropped(self, job_ids: list[int], how: End) -> None:
        # emitted after the lock is released: a receiver may submit or cancel again
        for job_id in job_ids:
            self.dropped.emit(job_id, how.value)

    # ---- worker thread ----------------------------------------------------------------------
    @Slot()
    def _drain(self) -> None:
        thread = QThread.currentThread()
        if self._init is not None:
            init, self._init = self._init, None
            try:
                init()
            except Exception:  # noqa: BLE001 - a failed tuning step must not stop the worker
                pass
        while not self._closing.is_set() and not thread.isInterruptionRequested():
            with self._lock:
                if not self._heap:
                    self._current = None
                    break
                entry = heapq.heappop(self._heap)
                self._current = entry
            self._run(entry, thread)
            with self._lock:
                self._current = None
        if not self._closing.is_set():
            self.idle.emit()

    def tune(self) -> None:
        """Worker thread: adapt the compute threads (see gui.threads); a failure is ignored."""
        self._tuned_at = time.monotonic()
        if self._tune is not None:
            try:
                self._tune()
            except Exception:  # noqa: BLE001 - tuning must never break a job
                self._tune = None

    def _run(self, entry: _Entry, thread: QThread) -> None:
        def should_stop() -> bool:
            return entry.cancel.is_set() or self._closing.is_set() or thread.isInterruptionRequested()

        last = [0.0]

        def progress(done: int, total: int, msg: str = "", data: object = None) -> None:
            if data is not None:
                self.partial.emit(entry.job_id, data)
            now = time.monotonic()
            if now - self._tuned_at >= 0.1:  # between two steps: safe to change PyTorch's threads
                self.tune()
            # at most ~30 updates a second, but always the last one
            if done >= total or now - last[0] >= 0.033:
                last[0] = now
                self.progress.emit(entry.job_id, int(done), int(total), str(msg))

        self.started.emit(entry.job_id, entry.title, entry.priority)
        self.tune()
        try:
            if should_stop():
                raise Cancelled("cancelled before it started")
            result = entry.fn(progress, should_stop)
        except (Cancelled, KeyboardInterrupt):
            self.cancelled.emit(entry.job_id)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a dialog, never a crash
            if should_stop():
                self.cancelled.emit(entry.job_id)
            else:
                one, details = describe_exception(exc, f"job: {entry.title}")
                exc.__traceback__ = None  # the frames (and their arrays) need not outlive the job
                self.failed.emit(entry.job_id, one, details, exc)
        else:
            if should_stop() and entry.priority >= BACKGROUND:
                self.cancelled.emit(entry.job_id)
            else:
                self.finished.emit(entry.job_id, result)


class WorkerHost(QObject):
    """Owns the QThread and the worker; the GUI talks to this object only.

    `submit` takes optional callbacks run in the GUI thread: on_done(result),
    on_error(one_line, details, exception) (decide by the exception's type, never its text), on_cancel() (also for a queued job that was
    dropped or replaced, so a panel that shows "running" can always reset itself) and
    on_partial(data). `jobs()` lists the queued and running jobs; `jobEnded` fires exactly once
    for every submitted job.
    """

    jobsChanged = Signal()  # a job was queued, started or ended
    jobStarted = Signal(int, str, int)
    jobProgress = Signal(int, int, int, str)
    jobEnded = Signal(int, str, object)  # job_id, an End value, the job's JobInfo
    unhandledError = Signal(str, str)  # a failed job without on_error
    idle = Signal()

    def __init__(self, parent: QObject | None = None, init: Callable[[], None] | None = None,
                 tune: Callable[[], object] | None = None) -> None:
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("engine-worker")
        self.worker = EngineWorker(init, tune)
        self.worker.moveToThread(self.thread)
        self._callbacks: dict[int, tuple] = {}
        self._partials: dict[int, Callable] = {}
        self._jobs: dict[int, JobInfo] = {}
        w = self.worker
        w.started.connect(self._on_started)
        w.progress.connect(self.jobProgress)
        w.partial.connect(self._on_partial)
        w.finished.connect(self._on_finished)
        w.failed.connect(self._on_failed)
        w.cancelled.connect(self._on_cancelled)
        w.dropped.connect(self._on_dropped)  # emitted in the GUI thread: a direct call
        w.idle.connect(self.idle)
        self.thread.start()
        self._shut = False

    def submit(self, fn: Callable[..., Any], title: str = "", *, on_done: Callable | None = None,
               on_error: Callable | None = None, on_cancel: Callable | None = None,
               on_partial: Callable | None = None, priority: int = USER, group: str | None = None,
               replace_group: bool = False, kind: str = "") -> int:
        """Queue `fn`; its id (-1 once shut down). `kind` names the workflow (for busy states)."""
        if self._shut:
            return -1
        job_id = self.worker.submit(fn, title, priority, group, replace_group)
        if job_id < 0:
            return -1
        self._callbacks[job_id] = (on_done, on_error, on_cancel)
        if on_partial is not None:
            self._partials[job_id] = on_partial
        self._jobs[job_id] = JobInfo(job_id, title, kind, priority, group)
        self.jobsChanged.emit()
        return job_id

    def cancel(self, job_id: int | None = None) -> None:
        self.worker.cancel(job_id)

    def cancel_group(self, group: str) -> None:
        self.worker.cancel_group(group)

    def cancel_all(self) -> None:
        self.worker.cancel_all()

    def jobs(self, user_only: bool = False) -> list[JobInfo]:
        """The queued and running jobs, in submission order (user jobs only if asked)."""
        return [j for j in self._jobs.values() if not user_only or j.priority < BACKGROUND]

    def busy(self) -> bool:
        return self.worker.pending() > 0

    def running_job(self):
        return self.worker.running_job()

    def user_waiting(self) -> bool:
        return self.worker.user_waiting()

    @Slot(int, str, int)
    def _on_started(self, job_id: int, title: str, priority: int) -> None:
        info = self._jobs.get(job_id)
        if info is not None:
            info.started_at = time.monotonic()
        self.jobStarted.emit(job_id, title, priority)
        self.jobsChanged.emit()

    @Slot(int, object)
    def _on_partial(self, job_id: int, data: object) -> None:
        cb = self._partials.get(job_id)
        if cb is not None and not self._shut:
            cb(data)

    def _end(self, job_id: int, how: End) -> tuple:
        """Forget the job, announce its end; its callbacks."""
        self._partials.pop(job_id, None)
        cb = self._callbacks.pop(job_id, (None, None, None))
        info = self._jobs.pop(job_id, None)
        if info is not None:
            self.jobEnded.emit(job_id, how.value, info)
            self.jobsChanged.emit()
        return cb

    @Slot(int, object)
    def _on_finished(self, job_id: int, result: object) -> None:
        cb = self._end(job_id, End.DONE)
        if cb[0] is not None and not self._shut:
            cb[0](result)

    @Slot(int, str, str, object)
    def _on_failed(self, job_id: int, one: str, details: str, exc: object) -> None:
        cb = self._end(job_id, End.FAILED)
        if self._shut:
            return
        if cb[1] is not None:
            cb[1](one, details, exc)
        else:
            self.unhandledError.emit(one, details)

    @Slot(int)
    def _on_cancelled(self, job_id: int) -> None:
        cb = self._end(job_id, End.CANCELLED)
        if cb[2] is not None and not self._shut:
            cb[2]()

    @Slot(int, str)
    def _on_dropped(self, job_id: int, how: str) -> None:
        cb = self._end(job_id, End(how))
        if cb[2] is not None and not self._shut:
            cb[2]()

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Cancel everything, stop the thread's event loop and wait for it. Safe to call twice."""
        if self._shut:
            return True
        self._shut = True
        self.worker.close()
        self.thread.requestInterruption()
        self.thread.quit()
        ok = bool(self.thread.wait(timeout_ms))
        self._callbacks.clear()
        self._partials.clear()
        self._jobs.clear()
        return ok
