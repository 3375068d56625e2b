"""Entry point, one command line for both front ends (dispatch only, no parsing of its own):

    python main.py [GUI OPTIONS]          the window (options: gui.app.build_parser)
    python main.py COMMAND [OPTIONS]      the headless CLI (commands: engine.cli.build_parser)
    python main.py review open STUDY ...  the reviewer window (gui.reviewer.run_review_open)

The first argument decides: a known command goes to the CLI (and `review open`, the one command
that needs Qt, to the GUI package, so the engine never imports the GUI); anything else is for the
window. `--help` lists the window's options and the commands.
"""

from __future__ import annotations

import sys


def _commands() -> dict[str, str]:
    """{command: one-line help} of the headless CLI."""
    import argparse

    from engine.cli import build_parser

    for action in build_parser()._actions:  # argparse keeps sub-commands in a private list
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            return {name: helps.get(name, "") for name in action.choices}
    return {}


def _no_gui(exc: BaseException) -> int:
    sys.stderr.write(f"error: the GUI is not available ({exc}); use a command, see --help\n")
    return 2


def _help() -> int:
    """The window's options, then the commands."""
    try:
        from gui.app import build_parser
    except ImportError:
        build_parser = None
    width = max(map(len, _commands()), default=0)
    lines = [f"  {name:<{width}}  {text}" for name, text in _commands().items()]
    tail = ("commands (python main.py COMMAND --help for their options):\n" + "\n".join(lines) + "\n"
            "  review open STUDY   answer a review study in the reviewer window\n")
    if build_parser is not None:
        sys.stdout.write(build_parser().format_help() + "\n" + tail)
    else:
        sys.stdout.write("usage: main.py COMMAND ...\n\n" + tail)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["-h"], ["--help"]):
        return _help()
    first = argv[0] if argv else ""
    if argv[:2] == ["review", "open"]:
        try:
            from gui.reviewer import run_review_open
        except ImportError as exc:
            return _no_gui(exc)
        return run_review_open(argv[2:])
    if first == "--version" or (first and not first.startswith("-")):
        # a command (or a misspelt one: the CLI names the valid choices)
        from engine.cli import main as cli_main

        return cli_main(argv)
    try:
        from gui.app import run_gui
    except ImportError as exc:
        return _no_gui(exc)
    return run_gui(argv)


if __name__ == "__main__":
    raise SystemExit(main())
