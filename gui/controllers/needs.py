"""What a workflow needs before it can run, checked in one place: a missing record, dataset or model
is one error dialog that says what to open first (the same words from every controller)."""

from __future__ import annotations

NO_RECORD = "Open a record first (File ▸ Open, or pick one in the Records list)."
NO_DATASET = "Open a folder or dataset first (File ▸ Open Folder or Dataset)."
NO_MODEL = "No model loaded: choose one in the Model panel (or load a checkpoint)."


def ready(win, wb, *, record: bool = False, dataset: bool = False, model: bool = True) -> bool:
    """True when the window's Workbench `wb` holds what is asked for; else one dialog on `win`."""
    for needed, present, text in ((record, wb.record, NO_RECORD), (dataset, wb.dataset, NO_DATASET),
                                  (model, wb.model, NO_MODEL)):
        if needed and present is None:
            win.show_error(text)
            return False
    return True
