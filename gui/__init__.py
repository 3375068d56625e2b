"""Desktop GUI (PySide6 + pyqtgraph) for the ECG adversarial workbench.

Importing this package has no side effect. The GUI entry points (gui.app.run_gui, the reviewer
window's entry) call `apply_pyside_workaround()` first; see there.
"""
from __future__ import annotations

import os
import sys

PYSIDE_REFCOUNT_WORKAROUND = False  # True once apply_pyside_workaround() raised the counts


def pyside_leaks_none() -> bool:
    """True when calling a wrapped void C++ method drops a reference to None (PySide6 6.12.0)."""
    try:
        from PySide6 import QtCore
    except Exception:  # noqa: BLE001 - no Qt, nothing to leak
        return False
    probe = QtCore.QObject()
    before = sys.getrefcount(None)
    for _ in range(16):
        probe.setObjectName("probe")  # a void method
    return before - sys.getrefcount(None) >= 8


def apply_pyside_workaround() -> bool:
    """Work around the reference-counting bug of PySide6 6.12.0 on CPython < 3.12; True if applied.

    With that PySide6, every call of a wrapped C++ method returning void drops one reference to
    ``None`` (and every signal ``emit`` one to ``True``). Before Python 3.12 these objects are not
    immortal, so after some ten thousand calls (a second or two of panning a plot) the interpreter
    aborts with "Fatal Python error: none_dealloc: deallocating None". Only PySide6 6.12.0 is on
    the package index here, so it cannot be pinned away.

    Which Pythons need it: CPython 3.11 and older. On 3.12+ None, True and False are immortal
    (PEP 683) and this function does nothing; installers are built on such a Python. When (and
    only when) the leak is detected, the reference counts of None, True and False are raised by
    2**40, which makes them immortal in practice. Calling it again does nothing.
    """
    global PYSIDE_REFCOUNT_WORKAROUND
    if PYSIDE_REFCOUNT_WORKAROUND:
        return True
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False  # immortal singletons: nothing to do
    if not pyside_leaks_none():
        return False
    import ctypes

    for obj in (None, True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += 1 << 40
    PYSIDE_REFCOUNT_WORKAROUND = True
    return True


def paint_on_gui_thread() -> None:
    """Keep Qt's raster painting on the GUI thread: sets QT_NO_GUI_THREADPOOL (read once, at the
    first paint; a value already in the environment is left as it is).

    Qt 6 splits large fills (a span count of about 100 and up: the window's background, the
    paper) over its GUI thread pool and blocks on a semaphore until every piece is done. On a
    2-core machine that runs an engine job (torch on the other core) or any other work, each
    frame then waits for a pooled thread to be scheduled: measured with
    bench/bench_strip.py's band case and one core kept busy, the GUI thread's frame had
    0.8-1.2 ms of such waits (median, ~4 context switches) and a tail of up to 30 ms; without
    the pool the waits are gone and the frame costs the same CPU (2026-12-02)."""
    os.environ.setdefault("QT_NO_GUI_THREADPOOL", "1")
