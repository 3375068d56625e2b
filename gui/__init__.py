"""Desktop GUI (PySide6 + pyqtgraph) for the ECG adversarial workbench.

Importing this package works around a reference-counting bug of PySide6 6.12.0 on
CPython < 3.12: every call of a wrapped C++ method returning void drops one reference to
``None`` (and every signal ``emit`` one to ``True``).  Before Python 3.12 these objects
are not immortal, so after a few thousand calls — a second or two of panning a plot —
the interpreter aborts with "Fatal Python error: none_dealloc: deallocating None".
Only PySide6 6.12.0 is on the package index here, so it cannot be pinned away.  When
(and only when) the bug is detected at import, the reference counts of None, True and
False are raised by 2**40, which makes them immortal in practice, as they are in 3.12+.
"""
from __future__ import annotations

import sys


def _guard_pyside_refcount_bug() -> bool:
    """Detect the PySide6 None/True reference leak and neutralise it; True if applied."""
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False  # immortal singletons (PEP 683): nothing to do
    try:
        import ctypes

        from PySide6 import QtCore
    except Exception:
        return False
    probe = QtCore.QObject()
    before = sys.getrefcount(None)
    for _ in range(16):
        probe.setObjectName("probe")  # a void method
    lost = before - sys.getrefcount(None)
    if lost < 8:
        return False
    for obj in (None, True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += 1 << 40
    return True


PYSIDE_REFCOUNT_WORKAROUND = _guard_pyside_refcount_bug()
