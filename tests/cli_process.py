"""`python main.py ARGS` as a real process, without paying the interpreter's start-up each time.

Importing torch takes 1.5-4 s, which is most of a short CLI command's run; the suite runs a few
hundred of them. A multiprocessing fork server imports torch and the engine once; each command is
then a process forked from it, with its own exit code, stdout and stderr (written to files at the
file-descriptor level), environment, working directory and argv, running `main.py` as
`__main__` and its atexit handlers at the end, as a fresh interpreter would. What it shares
with its siblings is only what was imported before the fork (no Qt: the server never imports it).

The server's threads setting is fixed when torch loads, so it starts with the OMP_NUM_THREADS
the commands get (run_cli's default 1); a command whose environment asks for another value runs
as a plain subprocess instead. Set ECGADV_TEST_PLAIN_CLI=1 to run every command that way.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRELOAD = ["torch", "numpy", "scipy.signal", "wfdb", "engine.cli"]

_ctx = None
_server_threads: str | None = None


def _child(argv: list[str], env: dict[str, str], cwd: str, out_path: str, err_path: str) -> None:
    """Body of one forked command: set up the process as `python main.py argv` would be, run it, exit."""
    import atexit
    import runpy
    import traceback

    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    for fd, path in ((1, out_path), (2, err_path)):
        f = os.open(path, os.O_WRONLY | os.O_TRUNC)
        os.dup2(f, fd)
        os.close(f)
    sys.argv = ["main.py", *argv]
    code = 0
    try:
        runpy.run_path("main.py", run_name="__main__")  # sets sys.argv[0] = "main.py", as `python main.py`
    except SystemExit as exc:
        if exc.code is None:
            code = 0
        elif isinstance(exc.code, int):
            code = exc.code
        else:
            sys.stderr.write(f"{exc.code}\n")
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    try:
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code)


def _with_threads(threads: str, start) -> None:
    """Call start() with OMP_NUM_THREADS=threads in os.environ: a fork server started (or restarted
    after dying) by it inherits that environment, and its torch keeps the value."""
    saved = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = threads
    try:
        start()
    finally:
        if saved is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = saved


def _context(threads: str):
    """The fork-server context; its server loads PRELOAD with OMP_NUM_THREADS=threads."""
    global _ctx, _server_threads
    if _ctx is None:
        _ctx = mp.get_context("forkserver")
        _ctx.set_forkserver_preload(PRELOAD)
        _server_threads = threads
    return _ctx


def run_main(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    """`python main.py args` in ROOT with `env`: exit code, stdout, stderr (text), as subprocess.run."""
    cmd = [sys.executable, "main.py", *args]
    threads = env.get("OMP_NUM_THREADS", "")
    if (not threads or os.environ.get("ECGADV_TEST_PLAIN_CLI") == "1" or sys.platform != "linux"
            or (_server_threads is not None and threads != _server_threads)):
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    ctx = _context(threads)
    with tempfile.TemporaryDirectory(prefix="ecgadv-cli-") as tmp:
        out_path, err_path = os.path.join(tmp, "stdout"), os.path.join(tmp, "stderr")
        for p in (out_path, err_path):
            open(p, "wb").close()
        proc = ctx.Process(target=_child, args=(args, env, str(ROOT), out_path, err_path))
        _with_threads(threads, proc.start)
        proc.join(timeout)
        timed_out = proc.is_alive()
        if timed_out:
            proc.kill()
            proc.join()
        out, err = (_text(p) for p in (out_path, err_path))
    if timed_out:
        raise subprocess.TimeoutExpired(cmd, timeout, out, err)
    return subprocess.CompletedProcess(cmd, proc.exitcode, out, err)


def _text(path: str) -> str:
    """A captured stream decoded as subprocess.run(text=True) does (locale encoding, universal newlines)."""
    import io
    import locale

    with open(path, "rb") as f:
        data = f.read()
    return io.TextIOWrapper(io.BytesIO(data), encoding=locale.getpreferredencoding(False)).read()
