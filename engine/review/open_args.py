"""The command line of `review open` (the reviewer window), declared once for both front ends:
the CLI lists it under `review` (engine.cli.review) and the GUI parses it (gui.reviewer), so the
GUI never imports the CLI and the engine never imports the GUI."""

from __future__ import annotations

import argparse
import sys


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one `error: ...` line on stderr and exit code 2 (the CLI contract)."""

    def error(self, message: str):
        sys.stderr.write(f"error: {message}\n")
        raise SystemExit(2)


def add_open_args(o) -> None:
    """The options of `review open`."""
    o.add_argument("study", help="study file or reviewer copy")
    o.add_argument("--reviewer", default=None, help="reviewer name or initials (else asked)")
    o.add_argument("--screenshot", default=None, metavar="PNG",
                   help="save the opening page as PNG and quit (no answers are recorded without --reviewer)")
    o.add_argument("--overwrite", action="store_true", help="replace an existing --screenshot file")


def open_parser() -> argparse.ArgumentParser:
    """The parser of `review open STUDY [--reviewer NAME] [--screenshot PNG [--overwrite]]`."""
    p = OneLineParser(prog="ecg-adv review open", description="Answer a review study in the reviewer window.")
    add_open_args(p)
    return p
