"""The reviewer window's static pages: style sheet, widgets helpers, and the welcome, instruction,
task-introduction and thank-you pages (built into the window's QStackedWidget by ReviewerPages,
a mixin of gui.reviewer.ReviewerWindow). No study logic here."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from engine.review.study import INSTRUCTIONS

STYLE = """
QMainWindow, QWidget#page { background: #f4f3ef; }
QLabel { color: #2b2b2b; }
QLabel#title { font-size: 20pt; font-weight: 600; color: #2b2b2b; }
QLabel#prompt { font-size: 15pt; font-weight: 600; color: #2b2b2b; }
QLabel#body { font-size: 12pt; color: #333333; }
QLabel#muted { font-size: 10.5pt; color: #6b6b6b; }
QLabel#trace { font-size: 11pt; font-weight: 600; color: #4a4a4a; }
QPushButton { font-size: 12pt; padding: 8px 16px; border: 1px solid #b9b6ad; border-radius: 6px;
              background: #fbfaf7; color: #2b2b2b; }
QPushButton:hover { background: #ffffff; border-color: #8f8b80; }
QPushButton[selected="true"] { background: #dfe8f3; border: 2px solid #4d6f96; }
QPushButton#primary { background: #4d6f96; color: white; border-color: #4d6f96; }
QPushButton#primary:hover { background: #5b7ea6; }
QPushButton#small { font-size: 10.5pt; padding: 4px 10px; }
QPushButton:disabled { color: #a9a6a0; border-color: #d8d6d0; }
QLineEdit { font-size: 14pt; padding: 6px 8px; border: 1px solid #b9b6ad; border-radius: 6px; background: white; }
QProgressBar { border: none; background: #e2e0da; border-radius: 3px; max-height: 6px; }
QProgressBar::chunk { background: #7d97b5; border-radius: 3px; }
QFrame#card { background: #fbfaf7; border: 1px solid #dcd9d1; border-radius: 10px; }
"""



def _page() -> QWidget:
    w = QWidget()
    w.setObjectName("page")
    return w


def _label(text: str, name: str = "body", wrap: bool = True) -> QLabel:
    lab = QLabel(text)
    lab.setObjectName(name)
    lab.setWordWrap(wrap)
    lab.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
    return lab


def _button(text: str, name: str | None = None) -> QPushButton:
    b = QPushButton(text)
    if name:
        b.setObjectName(name)
    b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    b.setCursor(Qt.CursorShape.PointingHandCursor)
    return b


class ReviewerPages:
    """Builders of the window's static pages (mixin: needs self.stack, self.info and the flow
    slots start, _after_instructions, _begin_task and close)."""

    def _centered(self, inner: QWidget, width: int = 760) -> QWidget:
        page = _page()
        outer = QVBoxLayout(page)
        outer.addStretch(1)
        row = QHBoxLayout()
        row.addStretch(1)
        inner.setMaximumWidth(width)
        inner.setMinimumWidth(min(width, 520))
        row.addWidget(inner, 3)
        row.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(2)
        return page

    def _card(self) -> tuple[QFrame, QVBoxLayout]:
        card = QFrame()
        card.setObjectName("card")
        lay = QVBoxLayout(card)
        lay.setContentsMargins(36, 30, 36, 30)
        lay.setSpacing(16)
        return card, lay

    def _build_welcome(self) -> None:
        card, lay = self._card()
        lay.addWidget(_label(self.info["title"], "title"))
        n = self.info["n_items"]
        lay.addWidget(_label(f"Thank you for taking part. This review has {n} items and takes a while; "
                             "you can stop at any time and continue later."))
        lay.addWidget(_label("Your name or initials:", "body"))
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("e.g. J.S.")
        self.name_edit.setMaxLength(80)
        self.name_edit.returnPressed.connect(self.start)
        lay.addWidget(self.name_edit)
        self.welcome_msg = _label("", "muted")
        lay.addWidget(self.welcome_msg)
        row = QHBoxLayout()
        row.addStretch(1)
        self.start_btn = _button("Start", "primary")
        self.start_btn.clicked.connect(self.start)
        row.addWidget(self.start_btn)
        lay.addLayout(row)
        self.stack.addWidget(self._centered(card))

    def _build_instructions(self) -> None:
        card, lay = self._card()
        lay.addWidget(_label("Instructions", "title"))
        self.instr_text = _label(INSTRUCTIONS["general"])
        lay.addWidget(self.instr_text)
        self.instr_resume = _label("", "muted")
        lay.addWidget(self.instr_resume)
        tips = _label("While an ECG is shown: mouse wheel zooms, dragging moves the view, "
                      "Z or the “Reset view” button restores it, C shows or hides the calipers.", "muted")
        lay.addWidget(tips)
        row = QHBoxLayout()
        row.addStretch(1)
        self.instr_btn = _button("Continue  (Enter)", "primary")
        self.instr_btn.clicked.connect(self._after_instructions)
        row.addWidget(self.instr_btn)
        lay.addLayout(row)
        self.stack.addWidget(self._centered(card, 820))

    def _build_task_intro(self) -> None:
        card, lay = self._card()
        self.task_part = _label("", "muted")
        lay.addWidget(self.task_part)
        self.task_title = _label("", "title")
        lay.addWidget(self.task_title)
        self.task_text = _label("")
        lay.addWidget(self.task_text)
        row = QHBoxLayout()
        row.addStretch(1)
        self.task_btn = _button("Begin  (Enter)", "primary")
        self.task_btn.clicked.connect(self._begin_task)
        row.addWidget(self.task_btn)
        lay.addLayout(row)
        self.stack.addWidget(self._centered(card, 760))

    def _build_done(self) -> None:
        card, lay = self._card()
        self.done_title = _label("Thank you", "title")
        lay.addWidget(self.done_title)
        self.done_text = _label("")
        lay.addWidget(self.done_text)
        row = QHBoxLayout()
        row.addStretch(1)
        b = _button("Close  (Enter)", "primary")
        b.clicked.connect(self.close)
        self.done_btn = b
        row.addWidget(b)
        lay.addLayout(row)
        self.stack.addWidget(self._centered(card))
