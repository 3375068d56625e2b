"""Entry point: no arguments opens the GUI; a subcommand runs the headless CLI."""

import sys


def main() -> int:
    argv = sys.argv[1:]
    if not argv or argv[0].startswith("--screenshot") or argv[0] in ("--open", "--gui"):
        try:
            from gui.app import run_gui
        except ImportError as exc:
            sys.stderr.write(f"error: the GUI is not available ({exc}); use a subcommand, see --help\n")
            return 2
        return run_gui(argv)
    from engine.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
