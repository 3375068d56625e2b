"""Reviewer window: a calm, distraction-free window for answering a blinded review study.

One item at a time on calibrated ECG paper (gui.strip.StripView, with its toolbar, legend,
overview and record line hidden), with zoom and calipers but no model output, no overlays and no
file or record names. Answers by keyboard (A: S/D; B: 1/2; C: N/A/O/~) or buttons, then an optional
confidence rating (1–5, Enter skips). Each answer is committed to the study file at once
(engine.review.study); the session resumes where it stopped and is locked when finished.

Opened by `python main.py review open STUDY`.
"""

from __future__ import annotations

import logging
import sys
import time

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (QApplication, QHBoxLayout, QLineEdit, QMainWindow,
                               QMessageBox, QProgressBar, QPushButton, QSizePolicy, QStackedWidget,
                               QVBoxLayout, QWidget)

from engine.errors import UserError
from engine.review.access import AlreadyAnswered, StudyLocked
from engine.review.study import ANSWERS, INSTRUCTIONS, RHYTHMS, display_layout, open_for_review
from gui.reviewer_pages import STYLE as _STYLE
from gui.reviewer_pages import ReviewerPages, _button, _label, _page
from gui.reviewer_traces import EqualStack, TraceView

log = logging.getLogger(__name__)

ANSWER_LABELS = {"A": {"same": "Same", "different": "Different"},
                 "B": {"1": "ECG 1 (upper)", "2": "ECG 2 (lower)"},
                 "C": {k: RHYTHMS[k] for k in ANSWERS["C"]}}
ANSWER_KEYS = {"A": {"s": "same", "d": "different"},
               "B": {"1": "1", "2": "2"},
               "C": {**{c.lower(): c for c in ANSWERS["C"]}, "x": "~"}}  # x: a second key for noisy
KEY_HINT = {"A": {"same": "S", "different": "D"}, "B": {"1": "1", "2": "2"},
            "C": {c: c for c in ANSWERS["C"]}}
CONFIDENCE_LABELS = {1: "1 guessing", 2: "2", 3: "3", 4: "4", 5: "5 certain"}
TASK_TITLES = {"A": "Same diagnosis?", "B": "Which ECG was altered?", "C": "Rhythm"}


# ---------------------------------------------------------------------------------------------
# the window


class _KeyFilter(QObject):
    """Routes key presses anywhere in the window to the window's handler (so a clicked plot
    cannot swallow an answer key). Installed on the window and each of its widgets, including
    those made later (answer buttons): not on the application, so no Python runs for the events
    of other windows."""

    def __init__(self, window: "ReviewerWindow") -> None:
        super().__init__(window)
        self.window = window

    def watch(self, widget: QWidget) -> None:
        """Filter `widget` and every widget inside it (installing twice is harmless)."""
        widget.installEventFilter(self)
        for child in widget.findChildren(QWidget):
            child.installEventFilter(self)

    def eventFilter(self, obj, ev) -> bool:  # noqa: N802 - Qt API
        kind = ev.type()
        if kind == QEvent.Type.ChildPolished:  # a widget made inside a watched one, now complete
            child = ev.child()
            if isinstance(child, QWidget):
                self.watch(child)
            return False
        if kind == QEvent.Type.KeyPress and isinstance(obj, QWidget) and obj.window() is self.window:
            if isinstance(obj, QLineEdit):
                return False
            return self.window.handle_key(ev)
        return False


class ReviewerWindow(ReviewerPages, QMainWindow):
    """The reviewer's window for one study file."""

    PAGE_WELCOME, PAGE_INSTRUCTIONS, PAGE_TASK, PAGE_ITEM, PAGE_DONE = range(5)

    def __init__(self, study_path: str, reviewer: str | None = None, min_item_s: float = 0.4,
                 parent=None) -> None:
        super().__init__(parent)
        self.study = open_for_review(study_path)
        self.info = self.study.info()
        self.session = None
        self.item: dict | None = None
        self.phase = "idle"  # idle | answer | confidence
        self.selected: str | None = None
        self.shown_at = 0.0
        self.min_item_s = float(min_item_s)
        self.setWindowTitle(self.info["title"])
        self.setStyleSheet(_STYLE)
        f = QFont(self.font())
        f.setPointSizeF(max(f.pointSizeF(), 11.0))
        self.setFont(f)
        self.stack = QStackedWidget()
        self.setCentralWidget(self.stack)
        self._build_welcome()
        self._build_instructions()
        self._build_task_intro()
        self._build_item()
        self._build_done()
        self._filter = _KeyFilter(self)
        self._filter.watch(self)
        self.stack.setCurrentIndex(self.PAGE_WELCOME)
        if reviewer:
            self.name_edit.setText(reviewer)
            QTimer.singleShot(0, self.start)

    # -- pages ------------------------------------------------------------------------------
    def _build_item(self) -> None:
        page = _page()
        outer = QVBoxLayout(page)
        outer.setContentsMargins(24, 14, 24, 14)
        outer.setSpacing(10)
        top = QHBoxLayout()
        self.prompt = _label("", "prompt", wrap=False)
        top.addWidget(self.prompt, 1)
        self.progress_label = _label("", "muted", wrap=False)
        top.addWidget(self.progress_label)
        outer.addLayout(top)
        self.progress_bar = QProgressBar()
        self.progress_bar.setTextVisible(False)
        outer.addWidget(self.progress_bar)
        self.views = [TraceView("ECG 1"), TraceView("ECG 2")]
        self.strips = EqualStack(self.views)
        outer.addWidget(self.strips, 1)
        # zoom and pan together, so the same place is compared (both use one layout): keys act on
        # both strips; a mouse zoom or drag on one is copied to the other
        self._syncing = False
        for src, dst in ((0, 1), (1, 0)):
            self.views[src].viewbox().sigRangeChanged.connect(
                lambda _vb, _r, *_, s=src, d=dst: self._mirror(s, d))
        tools = QHBoxLayout()
        self.reset_btn = _button("Reset view  (Z)", "small")
        self.reset_btn.clicked.connect(self.reset_view)
        self.caliper_btn = _button("Calipers  (C)", "small")
        self.caliper_btn.setCheckable(True)
        self.caliper_btn.toggled.connect(self._set_calipers)
        tools.addWidget(self.reset_btn)
        tools.addWidget(self.caliper_btn)
        tools.addStretch(1)
        self.hint = _label("", "muted", wrap=False)
        tools.addWidget(self.hint)
        outer.addLayout(tools)
        self.answer_row = QHBoxLayout()
        self.answer_row.setSpacing(12)
        self.answer_buttons: dict[str, QPushButton] = {}
        outer.addLayout(self.answer_row)
        conf = QHBoxLayout()
        conf.setSpacing(8)
        self.conf_label = _label("Confidence (optional):", "muted", wrap=False)
        conf.addWidget(self.conf_label)
        self.conf_buttons: dict[int, QPushButton] = {}
        for k, text in CONFIDENCE_LABELS.items():
            b = _button(text, "small")
            b.clicked.connect(lambda _=False, k=k: self._confidence(k))
            self.conf_buttons[k] = b
            conf.addWidget(b)
        self.skip_btn = _button("Skip rating  (Enter)", "small")
        self.skip_btn.clicked.connect(lambda: self._confidence(None))
        conf.addWidget(self.skip_btn)
        conf.addStretch(1)
        self.conf_widgets = [self.conf_label, *self.conf_buttons.values(), self.skip_btn]
        outer.addLayout(conf)
        self.stack.addWidget(page)

    # -- flow -------------------------------------------------------------------------------
    def start(self) -> None:
        name = self.name_edit.text()
        try:
            self.session = self.study.start_session(name)
        except UserError as exc:
            self.welcome_msg.setText(str(exc))
            return
        # switch pages once the Return that started us has finished travelling up the widgets
        QTimer.singleShot(0, self._enter_session)

    def _enter_session(self) -> None:
        done, total = self.session.progress()
        if self.session.locked:
            self._show_done(already=True)
            return
        self.instr_resume.setText(f"Welcome back. You have answered {done} of {total} items; you will continue "
                                  "with the next one." if done else "")
        self.stack.setCurrentIndex(self.PAGE_INSTRUCTIONS)
        self.setFocus()

    def _after_instructions(self) -> None:
        self._advance(force_intro=True)

    def _advance(self, force_intro: bool = False) -> None:
        """Show the next unanswered item (with its task's instructions first when the task changes)."""
        prev_task = self.item["task"] if self.item else None
        try:
            item = self.session.next_item() if self.session else None
        except UserError as exc:  # a damaged trace in the file: say so, answers given so far are saved
            QMessageBox.critical(self, "Study file damaged", f"{exc}\n\nYour answers so far are saved.")
            self.close()
            return
        if item is None:
            self._finish()
            return
        self.item = item
        if force_intro or item["task"] != prev_task:
            tasks = self.info["tasks"]
            part = tasks.index(item["task"]) + 1
            self.task_part.setText(f"Part {part} of {len(tasks)}")
            self.task_title.setText(TASK_TITLES[item["task"]])
            self.task_text.setText(INSTRUCTIONS[item["task"]])
            self.phase = "idle"
            self.stack.setCurrentIndex(self.PAGE_TASK)
            return
        self._show_item()

    def _begin_task(self) -> None:
        if self.item is not None:
            self._show_item()

    def _show_item(self) -> None:
        it = self.item
        task = it["task"]
        done, total = self.session.progress()
        self.prompt.setText(it["prompt"])
        self.progress_label.setText(f"Item {done + 1} of {total}")
        self.progress_bar.setMaximum(total)
        self.progress_bar.setValue(done)
        traces = it["traces"]
        for k, view in enumerate(self.views):
            view.setVisible(k < len(traces))
        self.strips.relayout()
        self._build_answers(task)
        self._set_phase("answer")
        self.stack.setCurrentIndex(self.PAGE_ITEM)
        # one layout for both traces, so they are drawn identically, sized to the strips' shape
        lay = display_layout([t["x_mv"] for t in traces], traces[0]["fs"], self._expected_aspect(len(traces)))
        for view, tr in zip(self.views, traces):
            view.label.setText(tr["label"] if len(traces) > 1 else "")
            view.label.setVisible(len(traces) > 1)
            view.show_trace(tr["x_mv"], tr["fs"], lay["seconds_per_row"], lay["row_height_mv"])
        QTimer.singleShot(0, self.reset_view)  # once the page has its final geometry
        self.shown_at = time.monotonic()
        self.setFocus()

    def _expected_aspect(self, n_traces: int) -> float:
        """Width/height of one strip's paper: the plot's own size once laid out (the stack's height
        shared by `n_traces` strips), else an estimate from the window size."""
        vb = self.views[0].viewbox()
        rect = vb.sceneBoundingRect() if self.strips.height() > 100 else None
        if rect is not None and rect.width() > 100 and rect.height() > 50:
            shown = sum(1 for v in self.views if not v.isHidden()) or 1
            h = rect.height() * shown / max(1, n_traces)  # the plot when n_traces strips share the stack
            return rect.width() / max(h, 50.0)
        w = max(400, self.width() - 48 - 70)
        h = max(150, (self.height() - 240) / max(1, n_traces) - 50)
        return w / h

    def _build_answers(self, task: str) -> None:
        while self.answer_row.count():
            w = self.answer_row.takeAt(0).widget()
            if w is not None:
                w.hide()
                w.setParent(None)
                w.deleteLater()
        self.answer_buttons = {}
        self.answer_row.addStretch(1)
        for value in ANSWERS[task]:
            b = _button(f"{KEY_HINT[task][value]}   {ANSWER_LABELS[task][value]}")
            b.setMinimumWidth(180)
            b.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
            b.clicked.connect(lambda _=False, v=value: self._select(v))
            self.answer_buttons[value] = b
            self.answer_row.addWidget(b)
        self.answer_row.addStretch(1)

    def _set_phase(self, phase: str) -> None:
        self.phase = phase
        ask = self.info["ask_confidence"]
        for w in self.conf_widgets:
            w.setVisible(ask)
            w.setEnabled(phase == "confidence")
        for v, b in self.answer_buttons.items():
            b.setProperty("selected", "true" if v == self.selected and phase == "confidence" else "false")
            b.style().unpolish(b)
            b.style().polish(b)
        if phase == "answer":
            keys = " / ".join(KEY_HINT[self.item["task"]][v] for v in ANSWERS[self.item["task"]])
            self.hint.setText(f"Answer with {keys}")
        elif phase == "confidence":
            self.hint.setText("Confidence 1–5 or Enter (skip) saves the answer; Backspace takes it back")

    def _select(self, value: str) -> None:
        if self.phase not in ("answer", "confidence") or self.item is None:
            return
        if time.monotonic() - self.shown_at < self.min_item_s:
            return  # guards against a double key press answering an item not yet seen
        self.selected = value
        if self.info["ask_confidence"]:
            self._set_phase("confidence")
        else:
            self._commit(None)

    def _confidence(self, value: int | None) -> None:
        if self.phase != "confidence" or self.selected is None:
            return
        self._commit(value)

    def _commit(self, confidence: int | None) -> None:
        elapsed = time.monotonic() - self.shown_at
        try:
            self.session.answer(self.item["item_id"], self.selected, confidence, elapsed, replace=False)
        except AlreadyAnswered as exc:  # a second window on the same file answered it first: keep that one
            QMessageBox.information(self, "Already answered", str(exc))
        except StudyLocked:  # ... or finished the whole review
            self._show_done(already=True)
            return
        except UserError as exc:
            QMessageBox.warning(self, "Not saved", str(exc))
            return
        self.selected = None
        self.phase = "idle"
        self._advance()

    def _finish(self) -> None:
        try:
            self.session.finish()
        except UserError as exc:
            QMessageBox.warning(self, "Not finished", str(exc))
            return
        self._show_done(already=False)

    def _show_done(self, already: bool) -> None:
        self.item = None
        self.phase = "idle"
        n = self.info["n_items"]
        if already:
            self.done_title.setText("Already completed")
            self.done_text.setText(f"A completed review under this name is on file ({n} items). Its answers are "
                                   "locked and cannot be changed. Thank you.")
        else:
            self.done_title.setText("Thank you")
            self.done_text.setText(f"All {n} answers are saved. This review is now complete and closed; "
                                   "you may close the window.")
        self.stack.setCurrentIndex(self.PAGE_DONE)

    def reset_view(self) -> None:
        self._syncing = True
        try:
            for v in self.views:
                if v.isVisible():
                    v.fit()
        finally:
            self._syncing = False

    def _mirror(self, src: int, dst: int) -> None:
        """Give strip `dst` the view range of strip `src` (when both are shown)."""
        if self._syncing or not (self.views[src].isVisible() and self.views[dst].isVisible()):
            return
        self._syncing = True
        try:
            (x0, x1), (y0, y1) = self.views[src].viewbox().viewRange()
            if self.views[dst].viewbox().viewRange() != [[x0, x1], [y0, y1]]:
                self.views[dst].viewbox().setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)
        finally:
            self._syncing = False

    def _set_calipers(self, on: bool) -> None:
        for v in self.views:
            v.set_calipers(on)

    # -- keys -------------------------------------------------------------------------------
    def handle_key(self, ev) -> bool:
        """Keyboard control; returns True when the key was used."""
        key, text = ev.key(), ev.text().lower()
        if ev.isAutoRepeat() and key not in (Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Up, Qt.Key.Key_Down):
            return self.stack.currentIndex() == self.PAGE_ITEM  # a held key never answers twice
        enter = key in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        page = self.stack.currentIndex()
        if page == self.PAGE_INSTRUCTIONS and (enter or key == Qt.Key.Key_Space):
            self._after_instructions()
            return True
        if page == self.PAGE_TASK and (enter or key == Qt.Key.Key_Space):
            self._begin_task()
            return True
        if page == self.PAGE_DONE and (enter or key == Qt.Key.Key_Escape):
            self.close()  # the thank-you page: Enter closes the window, as its button says
            return True
        if page != self.PAGE_ITEM or self.item is None:
            return False
        if text == "z":
            self.reset_view()
            return True
        if text == "c":
            self.caliper_btn.toggle()
            return True
        nav = {Qt.Key.Key_Left: ("pan", -0.1), Qt.Key.Key_Right: ("pan", 0.1),
               Qt.Key.Key_Up: ("scroll_rows", -1), Qt.Key.Key_Down: ("scroll_rows", 1),
               Qt.Key.Key_Plus: ("zoom", 1.25), Qt.Key.Key_Equal: ("zoom", 1.25), Qt.Key.Key_Minus: ("zoom", 0.8)}
        if key in nav:  # the same move on both strips (same layout, so the same result)
            name, arg = nav[key]
            self._syncing = True
            try:
                for v in self.views:
                    if v.isVisible():
                        getattr(v, name)(arg)
            finally:
                self._syncing = False
            return True
        task = self.item["task"]
        if self.phase == "confidence":
            if text in ("1", "2", "3", "4", "5"):
                self._confidence(int(text))
                return True
            if enter:
                self._confidence(None)
                return True
            if key in (Qt.Key.Key_Backspace, Qt.Key.Key_Escape):
                self.selected = None
                self._set_phase("answer")
                return True
            if task != "B" and text in ANSWER_KEYS[task]:
                self._select(ANSWER_KEYS[task][text])
                return True
            return False
        if self.phase == "answer":
            value = ANSWER_KEYS[task].get(text)
            if value is None and key == Qt.Key.Key_AsciiTilde:
                value = ANSWER_KEYS[task].get("~")
            if value is not None:
                self._select(value)
                return True
        return True  # nothing else reaches the strips (no play, no layer toggles)

    def closeEvent(self, ev) -> None:  # noqa: N802 - Qt API
        try:
            self.study.close()
        except Exception:  # noqa: BLE001
            pass
        super().closeEvent(ev)


def run_reviewer(study_path: str, reviewer: str | None = None, screenshot: str | None = None) -> int:
    """Open the reviewer window on `study_path` (creates the QApplication when needed).
    `screenshot`: save the opening page as PNG and quit (smoke test, documentation)."""
    from gui import apply_pyside_workaround, paint_on_gui_thread

    apply_pyside_workaround()  # before the window's Qt calls (needed on Python < 3.12)
    paint_on_gui_thread()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("ECG review")
    from gui import dialogs, guard

    # last resort: a bug in a slot shows one line naming a crash log; the window keeps running
    guard.install_excepthook(lambda line, details: dialogs.show_error(app.activeWindow(), line, details))
    win = ReviewerWindow(study_path, reviewer=reviewer)
    win.resize(1500, 950)
    if screenshot:
        win.show()

        def shoot():
            ok = win.grab().save(screenshot, "PNG")
            win.close()
            app.exit(0 if ok else 2)

        QTimer.singleShot(400, shoot)
    else:
        win.showMaximized()
    return int(app.exec())


def run_review_open(argv: list[str]) -> int:
    """`python main.py review open STUDY [--reviewer NAME] [--screenshot PNG [--overwrite]]`:
    parse the arguments (declared in engine.review.open_args), check the study and the screenshot path,
    then open the window. Bad input: one `error: ...` line on stderr, exit code 2."""
    from engine.outputs import check_output, check_suffix
    from engine.review.open_args import open_parser

    args = open_parser().parse_args(list(argv))
    try:
        with open_for_review(args.study) as rs:  # a clear error for a missing or foreign file, before any window
            has_key = rs.has_key
        if args.screenshot:
            check_suffix(args.screenshot, (".png",), "screenshot")
            check_output(args.screenshot, args.overwrite, "screenshot")
    except UserError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    if has_key and not args.screenshot:  # for the researcher at the terminal; the window never shows the key
        sys.stderr.write(f"note: {args.study} holds the answer key; answer it only on your own machine, and give "
                         f"reviewers a copy without the key: python main.py review copy {args.study} COPY.sqlite\n")
    return int(run_reviewer(args.study, reviewer=args.reviewer, screenshot=args.screenshot) or 0)


__all__ = ["ReviewerWindow", "TraceView", "run_review_open", "run_reviewer"]
