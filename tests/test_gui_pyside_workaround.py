"""The PySide6 6.12 reference workaround (gui.apply_pyside_workaround): needed on CPython < 3.12
(a process making enough void Qt calls dies without it) and effective (the same process lives with
it); on 3.12+ None is immortal and the function does nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from gui_fixtures import ROOT

pytest.importorskip("PySide6")

SCRIPT = textwrap.dedent("""
    import sys
    import gui
    from PySide6 import QtCore
    calls = sys.getrefcount(None) + 20000  # more calls than None has references
    applied = gui.apply_pyside_workaround() if sys.argv[1] == "on" else False
    probe = QtCore.QObject()
    for _ in range(calls):
        probe.setObjectName("x")
    print("alive", applied)
""")


def _run(mode: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SCRIPT, mode], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_workaround_needed_and_effective():
    if sys.version_info >= (3, 12):
        pytest.skip("Python 3.12+: None/True/False are immortal (PEP 683), the workaround does nothing")
    from gui import pyside_leaks_none

    if not pyside_leaks_none():
        pytest.skip("this PySide6 does not leak references to None: the workaround is not needed")
    without = _run("off")
    assert without.returncode != 0 and "alive" not in without.stdout  # needed: the process aborts
    assert "None" in without.stderr, without.stderr[-500:]  # "deallocating None"
    with_fix = _run("on")
    assert with_fix.returncode == 0, with_fix.stderr[-500:]
    assert with_fix.stdout.strip() == "alive True"  # effective


def test_no_import_side_effect_and_idempotent():
    code = ("import sys; c = sys.getrefcount(None); import gui; "
            "assert not gui.PYSIDE_REFCOUNT_WORKAROUND; assert sys.getrefcount(None) < c + 1000; "
            "a = gui.apply_pyside_workaround(); b = gui.apply_pyside_workaround(); "
            "assert a == b == gui.PYSIDE_REFCOUNT_WORKAROUND; "
            "assert (sys.getrefcount(None) > 2 ** 39) == a; print(a)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    from gui import pyside_leaks_none

    assert proc.stdout.strip() == str(sys.version_info < (3, 12) and pyside_leaks_none())
