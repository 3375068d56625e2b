"""The main window's workflows, one small controller each: they turn user actions into Workbench
jobs (engine.workbench), run them on the window's worker host and show the results in the
panels and the strip. The session state lives in the window's `Workbench`, not here."""
