"""Headless command-line interface: `python main.py <command> ...`.

Contract: `--json` prints exactly one JSON document on stdout; progress goes to stderr. Exit code 0
on success, 2 on bad input with a one-line message on stderr, never a traceback: an unexpected
error prints one line naming a crash log with the traceback (engine.crashlog) and exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys

from .. import __version__
from ..errors import UserError


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs) -> None:
        # no prefix matching: `--eps-r 0.1` must not quietly mean whichever option starts so (a
        # script's abbreviation would change meaning when an option is added)
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # argparse's own errors: one line, exit 2
        sys.stderr.write(f"error: {message}\n")
        raise SystemExit(2)

    def parse_known_args(self, args=None, namespace=None):
        ns, rest = super().parse_known_args(args, namespace)
        self._refuse_empty(ns)
        return ns, rest

    def _refuse_empty(self, ns) -> None:
        """An empty text given for an option or argument (`--model ""`, `--out "$UNSET"`) is an
        error, not 'not given': it silently meant the default model, no output file, every lead."""
        for action in self._actions:
            if not action.dest or action.dest == argparse.SUPPRESS:
                continue
            value = getattr(ns, action.dest, None)
            values = value if isinstance(value, list) else [value]
            if value is action.default or not any(isinstance(v, str) and not v.strip() for v in values):
                continue
            name = "/".join(action.option_strings) or action.metavar or action.dest
            self.error(f"argument {name}: empty value (leave the option out for its default)"
                       if action.option_strings else f"argument {name}: empty value")


def invocation() -> str:
    """How this CLI was started, for hints that name a command to run: the frozen bundle's or the
    installed script's name (`ecg-adv`), or `<python> <path>/main.py` as typed (e.g.
    `.venv/bin/python main.py`); `ecg-adv` when unknown."""
    import os

    if getattr(sys, "frozen", False):
        return os.path.basename(sys.executable) or "ecg-adv"
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else ""
    if os.path.basename(argv0) == "main.py":
        py = sys.executable or "python"
        try:  # a venv's interpreter under the working folder: as the README types it
            rel = os.path.relpath(py)
            py = rel if not rel.startswith("..") else py
        except ValueError:  # another drive (Windows)
            pass
        return f"{py} {argv0}"
    base = os.path.basename(argv0)
    return base if base.startswith("ecg-adv") else "ecg-adv"


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ecg-adv", description="ECG adversarial workbench (headless engine).")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")
    # every command module, in the order of the help; an import error here is a bug to see, not a
    # command to drop silently
    from . import attacks, bands, card, certify, core, review, smooth_attack

    for module in (core, attacks, bands, card, review, certify, smooth_attack):
        module.register(sub)
    return p


def emit(args, doc: dict, text: str | None = None) -> None:
    """Print the result: JSON with --json, else a human-readable text (or indented JSON)."""
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps(doc, allow_nan=False, default=float) + "\n")
    else:
        sys.stdout.write((text if text is not None else json.dumps(doc, indent=2, default=float)) + "\n")
    sys.stdout.flush()


def progress(msg: str) -> None:
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def job_progress(every_s: float = 2.0, say=None):
    """A Workbench job's `progress(done, total, msg="", data=None)` that prints to stderr (or calls
    `say(line)`): warnings, notes, reports with data (an epoch) and the last step always, other
    steps at most every `every_s`."""
    say = say or progress
    import time

    last = [float("-inf")]

    def report(done: int, total: int, msg: str = "", data: object = None) -> None:
        now = time.monotonic()
        if not msg:
            return
        if (data is not None or msg.startswith(("warning", "note")) or done >= total
                or now - last[0] >= every_s):
            last[0] = now
            say(msg)
    return report


def run_job(job):
    """Run a Workbench job inline (no cancel: ^C interrupts), progress printed to stderr."""
    return job(job_progress(), lambda: False)


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code (0 done, 2 bad input, 1 internal error, 130 ^C).

    The last-resort guard: an unexpected exception prints one line on stderr naming a crash log
    that holds the traceback (engine.crashlog) and returns 1; it does not replace clean
    UserErrors for bad input."""
    for stream in (sys.stdout, sys.stderr):  # text a terminal cannot encode (a lead named "µV…")
        try:                                  # is escaped, never a crash
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError):
            pass
    from ..allocator import tune_heap

    tune_heap()
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help()
            return 0
        return int(args.func(args) or 0)
    except UserError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except BrokenPipeError:
        return 1
    except Exception as exc:  # noqa: BLE001 - the last-resort guard
        from ..crashlog import crash_line, write_crash_log

        try:
            sys.stderr.write(f"error: {crash_line(exc, write_crash_log(exc))}\n")
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - stderr itself is gone
            pass
        return 1
