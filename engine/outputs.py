"""Safe outputs: refuse to clobber, check writability before work, write atomically, lock.

Every command that writes a file goes through these helpers:
* `check_output(path, overwrite, inputs=...)` before any long work: refuses an existing file
  unless `overwrite`, refuses a folder and any of the command's input files (even with
  `overwrite`), and checks that the folder exists and is writable (by creating and removing a
  probe file), so a run never fails at its end;
* `atomic_write(path)` (context manager yielding a temporary path next to the target) and
  `write_text_atomic` / `write_bytes_atomic`: the target appears whole or not at all;
* `FileLock(path)`: an exclusive lock file (`path + ".lock"`, created with O_EXCL) that stops
  two writers on one results file; a lock left by a dead process on this machine is taken over.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
from contextlib import contextmanager
from typing import Iterator

from .errors import UserError

__all__ = ["check_output", "check_suffix", "check_not_input", "same_file", "refuse_special", "check_output_dir", "atomic_write", "write_text_atomic",
           "write_bytes_atomic", "FileLock"]


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two existing paths name one file (also through links, `..` or a hard link);
    False when either does not exist."""
    try:
        return os.path.samefile(os.fspath(a), os.fspath(b))
    except (OSError, ValueError):  # one of them does not exist (yet), or holds a NUL
        return False


def check_not_input(path: str | os.PathLike, inputs, what: str = "output") -> None:
    """UserError when `path` names one of the files in `inputs` (None entries ignored): an input
    is never overwritten, not even with --overwrite."""
    for inp in inputs or ():
        if inp is not None and os.fspath(inp) and same_file(path, inp):
            raise UserError(f"{what} {os.fspath(path)} is the input file {os.fspath(inp)} of this command; "
                            "an input is never overwritten (not even with --overwrite): choose another path")


def check_output(path: str | os.PathLike, overwrite: bool = False, what: str = "output",
                 inputs=()) -> str:
    """Check `path` can be written: no existing file unless `overwrite`, a writable folder, and
    never one of the command's `inputs` (files it reads: a model, a label file, a record).

    Returns the path as str. Raises UserError (one line) otherwise. Writes nothing that stays.
    """
    path = os.fspath(path)
    if not path:
        raise UserError(f"empty {what} path")
    if os.path.isdir(path):
        raise UserError(f"{what} {path} is a folder, not a file")
    refuse_special(path, what)
    check_not_input(path, inputs, what)
    if os.path.lexists(path) and not overwrite:
        raise UserError(f"{path} already exists (use --overwrite to replace it)")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UserError(f"cannot write {what} {path}: folder {folder} does not exist")
    _probe(folder, what, path)
    if os.path.lexists(path) and not os.access(path, os.W_OK):
        raise UserError(f"cannot write {what} {path}: the existing file is read-only")
    return path


def check_suffix(path: str | os.PathLike, suffixes: tuple[str, ...], what: str = "output") -> None:
    """UserError unless `path` ends in one of `suffixes` (case-insensitive, e.g. (".html", ".htm")):
    an output named by its kind cannot replace a file of another kind (a label file, a record's
    header, a checkpoint) by a slip of the command line, even with --overwrite."""
    if not os.fspath(path).lower().endswith(tuple(x.lower() for x in suffixes)):
        raise UserError(f"the {what} file name must end in {' or '.join(suffixes)}: {os.fspath(path)}")


def refuse_special(path: str, what: str) -> None:
    """UserError when `path` exists and is not a regular file or folder: a device (/dev/null,
    /dev/zero), a named pipe or a socket. Reading one (an input) may block or never end; the
    atomic rename would replace one (an output; as root, /dev/null itself) with a plain file."""
    if os.path.exists(path) and not os.path.isfile(path) and not os.path.isdir(path):
        raise UserError(f"{what} {path} is not a regular file (a device, pipe or socket); name a file")


def check_output_dir(folder: str | os.PathLike, what: str = "output folder", create: bool = True) -> str:
    """Check (and by default create) a folder that outputs go into; UserError if not writable."""
    folder = os.fspath(folder)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise UserError(f"{what} {folder} is a file, not a folder")
    if not os.path.isdir(folder):
        if not create:
            raise UserError(f"{what} {folder} does not exist")
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create {what} {folder}: {exc.strerror or exc}") from None
    _probe(folder, what, folder)
    return folder


def _probe(folder: str, what: str, shown: str) -> None:
    try:
        fd, probe = tempfile.mkstemp(prefix=".ecgadv-probe-", dir=folder)
    except OSError as exc:
        raise UserError(f"cannot write {what} {shown}: {exc.strerror or exc}") from None
    os.close(fd)
    try:
        os.unlink(probe)
    except OSError:
        pass


@contextmanager
def atomic_write(path: str | os.PathLike, overwrite: bool = True) -> Iterator[str]:
    """Yield a temporary path beside `path`; on success it is renamed onto `path`.

    On any exception the temporary file is removed and `path` is untouched. With
    `overwrite=False` an existing `path` is refused (checked again at the rename).
    """
    path = os.fspath(path)
    refuse_special(path, "output")
    folder = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    os.close(fd)
    try:
        yield tmp
        if not overwrite and os.path.lexists(path):
            raise UserError(f"{path} already exists (use --overwrite to replace it)")
        refuse_special(path, "output")  # made meanwhile: still never replaced
        if os.path.isfile(tmp):
            # mkstemp makes the file owner-only (0600): give it the mode a plain open() would
            # (0666 less the umask), or keep the mode of the file it replaces
            try:
                mode = os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o666 & ~_umask()
                os.chmod(tmp, mode)
            except OSError:
                pass
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _umask() -> int:
    """The process's umask, read without changing it where the system says it (Linux), since
    setting it to read it back would race with files created meanwhile by other threads."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: str | os.PathLike, data: bytes, overwrite: bool = True) -> str:
    with atomic_write(path, overwrite=overwrite) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return os.fspath(path)


def write_text_atomic(path: str | os.PathLike, text: str, overwrite: bool = True) -> str:
    return write_bytes_atomic(path, text.encode("utf-8"), overwrite=overwrite)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


class FileLock:
    """Exclusive lock on `path` via `path + '.lock'` (O_CREAT|O_EXCL), holding the owner's pid.

    `acquire()` raises UserError naming the holder when another live process holds it; a lock
    whose process is gone (same host) is stale and taken over. Use as a context manager.
    """

    def __init__(self, path: str | os.PathLike, what: str = "results file") -> None:
        self.target = os.fspath(path)
        self.path = self.target + ".lock"
        self.what = what
        self.held = False

    def _owner(self) -> dict | None:
        try:
            with open(self.path, encoding="utf-8") as fh:
                doc = json.loads(fh.read() or "null")
            return doc if isinstance(doc, dict) else None
        except (OSError, ValueError, UnicodeDecodeError):
            return None

    def acquire(self) -> "FileLock":
        me = {"pid": os.getpid(), "host": socket.gethostname()}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                stale = (owner is not None and owner.get("host") == me["host"]
                         and isinstance(owner.get("pid"), int) and not _pid_alive(owner["pid"]))
                if stale:
                    try:
                        os.unlink(self.path)
                    except OSError:
                        pass
                    continue
                who = f"process {owner.get('pid')} on {owner.get('host')}" if owner else "another process"
                raise UserError(f"{self.target} is in use by {who} (lock file {self.path}; "
                                f"delete it if that process is gone)") from None
            except OSError as exc:
                raise UserError(f"cannot lock {self.what} {self.target}: {exc.strerror or exc}") from None
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(me))
            self.held = True
            return self
        raise UserError(f"cannot lock {self.what} {self.target} (lock file {self.path})")

    def release(self) -> None:
        if self.held:
            self.held = False
            try:
                os.unlink(self.path)
            except OSError:
                pass

    def __enter__(self) -> "FileLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
