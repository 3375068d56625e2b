"""A combo box of named choices that also holds files: the split chooser's record list files,
the Evaluate tab's comparison checkpoints and the Model panel's checkpoint files."""

from __future__ import annotations

import os
from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QWidget

CHOOSE = "\x00choose-file"  # item data of the "… file…" entry that opens a file dialog


class FileChoiceCombo(QComboBox):
    """Named choices (item data: a key) plus files (item data: the path). A file is shown as
    "<prefix>: <name>" with its full path as tooltip, once however often it is chosen. With
    `add_chooser`, a last entry asks for a file; a cancelled dialog leaves the previous choice."""

    def __init__(self, prefix: str = "File") -> None:
        super().__init__()
        self.prefix = prefix
        self._ask: Callable[[QWidget], str] | None = None
        self._last = 0  # the choice a cancelled dialog returns to
        self.currentIndexChanged.connect(self._remember)
        self.activated.connect(self._on_activated)

    def add_chooser(self, text: str, ask: Callable[[QWidget], str]) -> None:
        """Append the entry `text` that calls ask(self) -> path ('' when cancelled)."""
        self._ask = ask
        self.addItem(text, CHOOSE)

    def select_file(self, path: str) -> int:
        """Select `path` (or a named choice of that key), adding a file entry when it is new
        (before the chooser entry if there is one); returns its index."""
        i = self.findData(path)
        if i < 0:
            chooser = self.findData(CHOOSE)
            i = chooser if chooser >= 0 else self.count()
            self.insertItem(i, f"{self.prefix}: {os.path.basename(path)}", path)
            self.setItemData(i, path, Qt.ItemDataRole.ToolTipRole)
        self.setCurrentIndex(i)
        return i

    def _remember(self, i: int) -> None:
        if i >= 0 and self.itemData(i) != CHOOSE:
            self._last = i

    def _on_activated(self, i: int) -> None:
        if self.itemData(i) != CHOOSE:
            return
        path = self._ask(self) if self._ask else ""
        if not path:
            self.setCurrentIndex(min(self._last, self.count() - 1))  # cancelled: the previous choice stays
            return
        self.select_file(path)
