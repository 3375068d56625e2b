"""How many compute threads engine jobs get: every core while the window is idle, all but one for
a moment after the user's last input (mouse, wheel, keys), so that scrolling the strip or typing
stays smooth while an attack or a band runs, and all but one while other programs keep a core busy.

`ComputeThreads.apply()` is called by the worker thread only (at each job's start and between its
steps, see gui.worker), never while PyTorch computes; the GUI thread only notes input times.
ECGADV_THREADS=N fixes the count.
"""

from __future__ import annotations

import os
import time

from PySide6.QtCore import QEvent, QObject

INPUT_EVENTS = {QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonDblClick, QEvent.Type.MouseMove,
                QEvent.Type.Wheel, QEvent.Type.KeyPress}


class ComputeThreads(QObject):
    """The thread policy; install it as an application event filter to see the user's input."""

    def __init__(self, idle_after_s: float = 1.5, cores: int | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.idle_after_s = idle_after_s
        self.cores = cores  # None: PyTorch's own default (physical cores), read at the first apply()
        self.last_input = float("-inf")  # time.monotonic() of the last input event
        self.current: int | None = None  # threads set by the last apply()
        self.changes = 0

    # -- GUI thread ---------------------------------------------------------------------------
    def eventFilter(self, obj, ev) -> bool:  # noqa: N802
        if ev.type() in INPUT_EVENTS:
            self.last_input = time.monotonic()
        return False

    def note_input(self) -> None:
        self.last_input = time.monotonic()

    # -- either thread ---------------------------------------------------------------------------
    def idle(self) -> bool:
        return time.monotonic() - self.last_input >= self.idle_after_s

    def others_busy(self) -> bool:
        """True when other programs keep at least one core busy (1-minute load average less our own
        threads): then every core would oversubscribe the CPU, and PyTorch's OpenMP threads, which
        wait for each other at every step, slow a job down many times (measured: 4-20× on a
        2-core machine at load 5). Always False where the load average is unknown (Windows)."""
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            return False
        return load - (self.current or 0) >= 1.0

    def wanted(self) -> int:
        """Threads for the next step: every core when the window is idle and the machine is not busy
        with other programs, else all but one (at least one)."""
        want = os.environ.get("ECGADV_THREADS", "")
        if want.isdigit() and int(want) > 0:
            return int(want)
        cores = self.cores or os.cpu_count() or 1
        return cores if self.idle() and not self.others_busy() else max(1, cores - 1)

    # -- worker thread ---------------------------------------------------------------------------
    def apply(self) -> int:
        """Set PyTorch's intra-op threads to wanted() when that changed; returns the count."""
        import torch

        if self.cores is None:
            self.cores = max(1, torch.get_num_threads())
        n = self.wanted()
        if n != self.current:
            torch.set_num_threads(n)
            self.current = n
            self.changes += 1
        return n
