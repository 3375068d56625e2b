"""Bounded reads of input files (label and split lists, saved cards, results files).

`read_bounded(path, what, max_bytes)` returns a file's bytes, or raises a one-line UserError that
names the file: it does not exist, is a folder, is a device, pipe or socket (reading one may
block or never end), cannot be read, or is larger than `max_bytes` (checked before reading, and
again on what was read, for a file that grows meanwhile).
"""

from __future__ import annotations

import os

from .errors import UserError
from .outputs import refuse_special

__all__ = ["read_bounded"]


def _mib(n: int) -> str:
    return f"{n / 2 ** 20:.0f} MiB" if n >= 2 ** 20 else f"{n} bytes"


def read_bounded(path: str | os.PathLike, what: str, max_bytes: int) -> bytes:
    """The bytes of `path`, at most `max_bytes`; `what` names the file in errors ("label file")."""
    path = os.fspath(path)
    if not os.path.lexists(path):
        raise UserError(f"{what} {path} does not exist")
    if os.path.isdir(path):
        raise UserError(f"{what} {path} is a folder, not a file")
    refuse_special(path, what)
    too_large = f"{what} {path} is too large (at most {_mib(max_bytes)})"
    try:
        if os.path.getsize(path) > max_bytes:
            raise UserError(too_large)
        with open(path, "rb") as fh:
            raw = fh.read(max_bytes + 1)
    except OSError as exc:
        raise UserError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(raw) > max_bytes:
        raise UserError(too_large)
    return raw
