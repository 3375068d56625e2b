"""The C heap's policy for batched CPU inference (glibc on Linux; elsewhere nothing changes).

A batch of 32 thirty-second records makes activations of ~37 MB. glibc serves blocks that large
with a fresh mmap and unmaps them on free, so every forward pass touches new pages: the band's
6001 classified inputs took ~1.7 million page faults, ~2.5 s of its 9 s on 2 cores (bench/
bench_attacks.py, full band), while the same forwards back to back, whose block sizes glibc's
adaptive threshold learns, took almost none. Serving every block from the heap and keeping up to
`TRIM_BYTES` of freed memory for reuse removes those faults (band 1.5x → 1.1x its floor).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1  # glibc mallopt parameters (malloc.h)
M_MMAP_MAX = -4
TRIM_BYTES = 256 << 20  # freed heap memory kept for reuse before it is returned to the system

_applied: bool | None = None


def tune_heap() -> bool:
    """Serve large blocks from the heap and keep freed memory for reuse (glibc only; once per
    process). Returns whether the policy is in force. Blocks the heap cannot grow for still fall
    back to mmap (glibc does so when brk fails), so this never makes an allocation fail."""
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - glibc only (musl has no such symbol)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _applied = bool(mallopt(M_TRIM_THRESHOLD, TRIM_BYTES)) and bool(mallopt(M_MMAP_MAX, 0))
    return _applied
