"""The status bar's job display: message, progress bar, ETA and Cancel, all following the worker
host's one record of jobs (gui.worker.WorkerHost.jobs); the paper's calibration and the device."""

from __future__ import annotations

import time

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QStatusBar

from . import format as fmt
from .worker import BACKGROUND, WorkerHost


class JobStatus(QObject):
    """Status-bar widgets for the user jobs of `host` (background jobs stay silent)."""

    def __init__(self, bar: QStatusBar, host: WorkerHost) -> None:
        super().__init__(bar)
        self.host = host
        self.msg = QLabel("Ready")
        bar.addWidget(self.msg, 1)
        self.eta = QLabel("")
        self.eta.setMinimumWidth(110)
        self.progress = QProgressBar()
        self.progress.setFixedWidth(220)
        self.progress.setTextVisible(True)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setToolTip("Stop the running job and drop the queued ones (Esc)")
        self.cancel_btn.clicked.connect(self.cancel_all)
        for w in (self.eta, self.progress, self.cancel_btn):
            bar.addPermanentWidget(w)
            w.setVisible(False)
        self.paper = QLabel("")  # empty while the paper is calibrated (see set_paper)
        self.paper.setStyleSheet("color: #a05a00; padding-left: 8px;")
        bar.addPermanentWidget(self.paper)
        self.device = QLabel("")
        self.device.setStyleSheet("color: #555; padding-left: 8px;")
        bar.addPermanentWidget(self.device)
        host.jobStarted.connect(self._started)
        host.jobProgress.connect(self._progress)
        host.jobEnded.connect(self._ended)

    def set_device(self, text: str, threads: int | None = None) -> None:
        """The compute device; for the CPU the threads the last job ran with (they follow the window's
        idleness, see gui.threads)."""
        import re

        self._device = re.sub(r"\s*\(\d+ (threads?|cores?)\)$", "", text)
        if threads and self._device == "CPU":
            text = f"CPU ({threads} thread{'s' if threads != 1 else ''})"
            self.device.setToolTip("PyTorch threads: every core while the window is idle, one core left to "
                                   "the window just after your input or while other programs are busy")
        self.device.setText(text)

    def set_paper(self, calibrated: bool, units: str = "mV") -> None:
        """Say when the strip's paper is not calibrated: free zoom (squares not 0.2 s × 0.5 mV), or a
        channel not in mV (its grid is 10 mm per unit of that channel, no calibration pulse)."""
        if not calibrated:
            text, tip = "paper not calibrated (free zoom)", ("Free zoom: time and amplitude zoomed independently; "
                                                             "View ▸ Free Zoom off restores 25 mm/s, 10 mm/mV")
        elif units != "mV":
            text, tip = f"no mV calibration ({units} channel)", (f"The channel is in {units}, not mV: the grid is "
                                                                 f"10 mm per {units} and there is no 1 mV pulse")
        else:
            text, tip = "", ""
        self.paper.setText(text)
        self.paper.setToolTip(tip)
        self.paper.setVisible(bool(text))

    def refresh_threads(self, threads: int | None) -> None:
        if getattr(self, "_device", None) == "CPU":
            self.set_device("CPU", threads)

    def user_jobs(self):
        return self.host.jobs(user_only=True)

    def cancel_all(self) -> None:
        """Esc / Cancel: stop the running user job and drop the queued ones (each ends with a signal)."""
        for job in self.user_jobs():
            self.host.cancel(job.job_id)

    def _started(self, job_id: int, title: str, priority: int) -> None:
        if priority >= BACKGROUND:
            return
        self.msg.setText(title + "…")
        self.progress.setRange(0, 0)  # busy until the first progress report
        self.eta.setText("")
        for w in (self.progress, self.cancel_btn, self.eta):
            w.setVisible(True)

    def _progress(self, job_id: int, done: int, total: int, msg: str) -> None:
        info = next((j for j in self.user_jobs() if j.job_id == job_id), None)
        if info is None:
            return
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(min(done, total))
            el = time.monotonic() - (info.started_at or time.monotonic())
            if done > 0 and el > 0.3:
                self.eta.setText(f"ETA {fmt.eta(el / done * max(total - done, 0))}")
        if msg:
            self.msg.setText(msg)

    def _ended(self, job_id: int, how: str, info) -> None:
        if info.priority >= BACKGROUND or self.user_jobs():
            return
        for w in (self.progress, self.eta, self.cancel_btn):
            w.setVisible(False)
        if how in ("cancelled", "dropped"):
            self.msg.setText(f"{info.title}: cancelled")
        elif how == "failed":
            self.msg.setText(f"{info.title}: failed")
        elif how == "done":
            self.msg.setText("Ready")
