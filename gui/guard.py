"""Last-resort guard of the GUI: an unexpected exception (a bug, not bad input) in a slot or an
event handler shows one line naming a crash log that holds the traceback, and the app keeps
running. Jobs in the worker thread get the same treatment in gui.worker.describe_exception.
Bad input is engine.errors.UserError and never reaches this guard as a crash. The log files are
written by engine.crashlog (the CLI's guard uses the same)."""

from __future__ import annotations

import sys
import traceback
from typing import Callable

from engine.crashlog import crash_line, write_crash_log

Show = Callable[[str, str], None]  # (one line, details)


def crash_report(exc: BaseException, context: str = "") -> tuple[str, str]:
    """Write `exc`'s crash log; (the one line for the user, the traceback for 'Show Details')."""
    path = write_crash_log(exc, context)
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return crash_line(exc, path), details


def install_excepthook(show: Show) -> Callable:
    """Route uncaught exceptions of the GUI thread (Qt slots, event handlers, timers) to `show`
    after writing a crash log; returns the previous hook. KeyboardInterrupt keeps its default."""
    previous = sys.excepthook

    def hook(exc_type, exc, tb) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            previous(exc_type, exc, tb)
            return
        if exc is None:
            exc = exc_type()
        if exc.__traceback__ is None:
            exc = exc.with_traceback(tb)
        try:
            line, details = crash_report(exc, "GUI thread")
            sys.stderr.write(line + "\n")
            show(line, details)
        except Exception:  # noqa: BLE001 - the guard itself must never raise
            previous(exc_type, exc, tb)

    sys.excepthook = hook
    return previous
