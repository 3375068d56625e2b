"""Crash logs for the last-resort guards of the CLI and the GUI.

An unexpected exception (a bug, not bad input: that is engine.errors.UserError) is written with
its traceback to `<cache>/ecg-adv/crash-YYYYmmdd-HHMMSS-<pid>.log`, where <cache> is
$XDG_CACHE_HOME, %LOCALAPPDATA% on Windows, or ~/.cache; when that folder cannot be written,
the system's temporary folder is used. The user sees one line naming the file.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
import traceback


def crash_dirs() -> list[str]:
    """Candidate folders for crash logs, best first."""
    base = os.environ.get("XDG_CACHE_HOME") or (os.environ.get("LOCALAPPDATA") if os.name == "nt" else None) \
        or os.path.join(os.path.expanduser("~"), ".cache")
    return [os.path.join(base, "ecg-adv"), os.path.join(tempfile.gettempdir(), "ecg-adv")]


def write_crash_log(exc: BaseException, context: str = "") -> str | None:
    """Write `exc`'s traceback (plus the command line, versions and `context`) to a new crash log;
    returns its path, or None when no folder could be written."""
    from . import __version__

    stamp = time.strftime("%Y%m%d-%H%M%S")
    text = (f"ecg-adv {__version__} crash at {time.strftime('%Y-%m-%d %H:%M:%S %z')}\n"
            f"python {platform.python_version()} on {platform.platform()}\n"
            f"argv: {sys.argv!r}\n" + (f"context: {context}\n" if context else "") + "\n"
            + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    for folder in crash_dirs():
        path = os.path.join(folder, f"crash-{stamp}-{os.getpid()}.log")
        try:
            os.makedirs(folder, exist_ok=True)
            n = 1
            while os.path.exists(path):  # two crashes in one second
                n += 1
                path = os.path.join(folder, f"crash-{stamp}-{os.getpid()}-{n}.log")
            with open(path, "x", encoding="utf-8") as fh:
                fh.write(text)
            return path
        except OSError:
            continue
    return None


def crash_line(exc: BaseException, path: str | None) -> str:
    """The one line shown to the user."""
    msg = " ".join(str(exc).split())
    if len(msg) > 160:
        msg = msg[:157] + "..."
    what = type(exc).__name__ + (f": {msg}" if msg else "")
    where = f"the traceback is in {path}" if path else "no crash log could be written"
    return f"internal error ({what}); this is a bug, please report it — {where}"
