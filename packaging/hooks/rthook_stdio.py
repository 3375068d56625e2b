"""PyInstaller runtime hook: give a windowed executable usable stdout/stderr.

A windowed (GUI-subsystem) Windows .exe, and a macOS .app started from Finder, start with
sys.stdout/sys.stderr set to None; the app's progress and status lines (`sys.stderr.write`)
would then raise AttributeError. Send them to the null device instead. The command line on
Windows is the console executable ecg-adv-cli.exe, which has real streams.
"""

import os
import sys

for _name in ("stdout", "stderr"):
    if getattr(sys, _name, None) is None:
        setattr(sys, _name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115 - lives as long as the app
