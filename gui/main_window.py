"""The main window: record browser (left), ECG strip (centre), model / attack / band panels
(right), dataset actions (bottom, on demand), status bar with progress, ETA and Cancel.

Only composition lives here. The session state is an engine.workbench.Workbench (`self.wb`) that
the window observes; each workflow is a small controller (gui.controllers) that builds Workbench
jobs and runs them on `self.host` (gui.worker.WorkerHost: one QThread, a job queue, results in the
GUI thread); display options are gui.display, the status bar gui.status, texts gui.format.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (QComboBox, QDockWidget, QGroupBox, QHBoxLayout, QLabel, QMainWindow, QScrollArea,
                               QSizePolicy, QStyle, QToolBar, QVBoxLayout, QWidget)

import engine
from engine.models import BUNDLED
from engine.workbench import Workbench

from . import dialogs
from . import format as fmt
from .controllers.attack import AttackController
from .controllers.card import CardController
from .controllers.dataset import DatasetController
from .controllers.export import ExportController
from .controllers.model import ModelController
from .controllers.records import RecordController
from .display import DisplayControls, make_action
from .fit_label import FitLabel
from .threads import ComputeThreads
from .panels.attack_panel import AttackPanel
from .panels.band_panel import BandPanel
from .panels.card_panel import CardPanel
from .panels.dataset_panel import DatasetPanel
from .panels.model_panel import ModelPanel
from .panels.record_browser import RecordBrowser
from .settings import Settings
from .status import JobStatus
from .strip import StripView
from .worker import USER, WorkerHost

SAMPLES = Path(__file__).resolve().parent.parent / "resources" / "samples"
DATASET_TABS = ("Evaluate Model…", "Attack Evaluation…", "Robustness Curve…", "Train Model…")


class MainWindow(QMainWindow):
    # milestones, for --screenshot and the tests
    modelLoaded = Signal(object)
    datasetListed = Signal(str)
    recordShown = Signal(str)
    classified = Signal(str, object)
    attackFinished = Signal(object)
    bandFinished = Signal(object)
    exported = Signal(str, object)
    errorShown = Signal(str)

    samples = SAMPLES

    def __init__(self, settings: Settings | None = None, model_spec: str | None = None,
                 open_samples: bool = True, restore_layout: bool = True) -> None:
        super().__init__()
        self.settings = settings or Settings()
        self.setWindowTitle("ECG Adversarial Workbench")
        self.setAcceptDrops(True)  # drop a record's files or a folder on the window to open it
        self.wb = Workbench()
        # engine jobs: every core while the window is idle, all but one just after the user moved
        # the strip (pan, zoom, play, crosshair, calipers). Input is seen through the strip's own
        # signals, not an application-wide Python event filter: called for every event, incl. paints,
        # such a filter let Shiboken run deferred widget deletions inside a paint event and deadlocked
        # a test run.
        self.threads = ComputeThreads(parent=self)
        self.host = WorkerHost(self, tune=self.threads.apply)
        self.errors: list[str] = []
        self._closing = False
        self.persist = True  # save settings on close (the --screenshot mode turns this off)
        self._build_ui()
        self.records = RecordController(self)
        self.models = ModelController(self)
        self.attacks = AttackController(self)
        self.exports = ExportController(self)
        self.datasets = DatasetController(self)
        self.cards = CardController(self)
        self._connect_panels()
        self._build_actions()
        from .controllers.certify import CertifyController  # Attack ▸ Certify (randomised smoothing)

        self.certifier = CertifyController(self)
        self._load_settings(restore_layout)
        self.wb.subscribe(lambda _event, _value: (self.refresh_header(), self.update_enabled(),
                                                  self.refresh_paper_status()))
        self.strip.calibrationChanged.connect(lambda _cal: self.refresh_paper_status())
        for sig in (self.strip.timeChanged, self.strip.caliperChanged, self.strip.crosshair.moved):
            sig.connect(lambda *_a: self.threads.note_input())
        self.refresh_paper_status()
        self.refresh_header()  # what to do while nothing is open
        self.host.jobsChanged.connect(self.update_enabled)
        self.host.jobEnded.connect(lambda *_a: self.job_status.refresh_threads(self.threads.current))
        self.host.unhandledError.connect(self.show_error)
        self.update_enabled()
        self.load_model(model_spec or self.settings.get("model/spec"), quiet=True)
        if open_samples:
            self.open_folder(str(SAMPLES), select_first=True, remember=False)

    # ---- the verbs (menu actions, --screenshot and tests call these) ---------------------------------
    def open_path(self, path: str) -> None:
        self.records.open_path(path)

    def open_folder(self, folder: str, select_first: bool = True, remember: bool = True,
                    then_select: str | None = None) -> None:
        self.records.open_folder(folder, select_first, remember, then_select)

    def open_record(self, path: str, remember: bool = True) -> None:
        self.records.open_record(path, remember)

    def load_model(self, spec: str, quiet: bool = False) -> None:
        self.models.load_model(spec, quiet)

    def run_attack(self) -> None:
        self.attacks.run_attack()

    def run_band(self) -> None:
        self.attacks.run_band()

    def export_adversarial(self, out_dir: str | None = None) -> None:
        self.exports.export_adversarial(out_dir)

    def export_band(self, out_dir: str | None = None, members: int = 10) -> None:
        self.exports.export_band(out_dir, members)

    def export_strip(self, path: str | None = None, t0: float | None = None, t1: float | None = None,
                     dpi: int | None = None) -> None:
        self.exports.export_strip(path, t0, t1, dpi)

    def show_dataset_tab(self, index: int) -> None:
        self.datasets.show_tab(index)

    # ---- the session, read-only (the Workbench holds it) -------------------------------------------
    rec = property(lambda self: self.wb.record)
    clf = property(lambda self: self.wb.model)
    ds = property(lambda self: self.wb.dataset)
    pred = property(lambda self: self.wb.prediction)
    result = property(lambda self: self.wb.attack_result)
    result_method = property(lambda self: self.wb.method)
    result_params = property(lambda self: self.wb.params)
    band = property(lambda self: self.wb.band_result)
    model_spec = property(lambda self: self.models.spec)

    @property
    def band_options(self) -> dict:
        return self.attacks.band_options

    @band_options.setter
    def band_options(self, options: dict) -> None:
        self.attacks.band_options = dict(options)

    # ---- building ----------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        self.resize(1500, 950)
        central = QWidget()
        v = QVBoxLayout(central)
        v.setContentsMargins(6, 4, 6, 2)
        v.setSpacing(3)
        # one line each at any width: full text, else a compact one (full text in the tooltip)
        self.header = FitLabel("No record open")
        self.header.setStyleSheet("font-size: 11pt;")
        self.subheader = FitLabel("")
        self.subheader.setStyleSheet("color: #444;")
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.header, 1)
        self.lead_label = QLabel("Lead")
        self.lead_combo = QComboBox()
        self.lead_combo.setToolTip("Which channel of the record to show and attack")
        for w in (self.lead_label, self.lead_combo):
            top.addWidget(w)
            w.setVisible(False)
        v.addLayout(top)
        v.addWidget(self.subheader)
        self.display_bar = QToolBar("Display", central)
        self.display_bar.setObjectName("toolbar-display")
        self.display_bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.display_bar.setStyleSheet("QToolBar { border: none; spacing: 1px; } QToolButton { padding: 2px 5px; }")
        v.addWidget(self.display_bar)
        self.strip = StripView(central, toolbar=False)  # the window has its own display bar
        self.strip.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        v.addWidget(self.strip, 1)
        self.setCentralWidget(central)

        self.browser = RecordBrowser()
        self.browser_dock = self._dock("Records", self.browser, Qt.DockWidgetArea.LeftDockWidgetArea, "records")
        self.model_panel, self.attack_panel, self.band_panel = ModelPanel(), AttackPanel(), BandPanel()
        side = QWidget()
        sv = QVBoxLayout(side)
        sv.setContentsMargins(2, 2, 2, 2)
        for title, w in (("Model", self.model_panel), ("Attack", self.attack_panel), ("Band", self.band_panel)):
            box = QGroupBox(title)
            bl = QVBoxLayout(box)
            bl.setContentsMargins(4, 4, 4, 4)
            bl.addWidget(w)
            sv.addWidget(box)
        sv.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(side)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)  # never cut, at worst scrolled
        # the dock is never narrower than its panels (+ the vertical scroll bar): nothing cut at the right
        bar = scroll.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
        scroll.setMinimumWidth(max(300, side.minimumSizeHint().width() + bar + 2 * scroll.frameWidth()))
        self.side_scroll = scroll
        self.side_dock = self._dock("Analysis", scroll, Qt.DockWidgetArea.RightDockWidgetArea, "analysis")
        self.dataset_panel = DatasetPanel()
        self.card_panel = CardPanel()  # the Dataset dock's Robustness card tab
        self.dataset_panel.tabs.addTab(self.card_panel, "Robustness card")
        self.dataset_dock = self._dock("Dataset", self.dataset_panel, Qt.DockWidgetArea.BottomDockWidgetArea,
                                       "dataset")
        self.dataset_dock.hide()
        self.resizeDocks([self.browser_dock, self.side_dock], [300, 390], Qt.Orientation.Horizontal)

        self.job_status = JobStatus(self.statusBar(), self.host)
        js = self.job_status
        self.status_msg, self.eta, self.progress, self.cancel_btn = js.msg, js.eta, js.progress, js.cancel_btn
        self.display = DisplayControls(self, self.strip, self.settings)
        self.layer_actions = self.display.layer_actions

    def _dock(self, title: str, widget: QWidget, area, name: str) -> QDockWidget:
        d = QDockWidget(title, self)
        d.setObjectName(f"dock-{name}")
        d.setWidget(widget)
        d.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                      | QDockWidget.DockWidgetFeature.DockWidgetClosable
                      | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, d)
        return d

    def _connect_panels(self) -> None:
        r, b, d = self.records, self.browser, self.dataset_panel
        self.lead_combo.activated.connect(r.lead_chosen)
        b.recordActivated.connect(r.record_activated)
        b.openFileRequested.connect(r.ask_open_record)
        b.openFolderRequested.connect(r.ask_open_folder)
        b.recentRequested.connect(r.open_path)
        self.model_panel.modelRequested.connect(lambda spec: self.models.load_model(spec))
        self.model_panel.browseRequested.connect(self.models.ask_open_model)
        self.attack_panel.runRequested.connect(self.attacks.run_attack)
        self.band_panel.runRequested.connect(self.attacks.run_band)
        d.evaluateRequested.connect(self.datasets.run_evaluate)
        d.attackEvalRequested.connect(self.datasets.run_attack_eval)
        d.robustnessRequested.connect(self.datasets.run_robustness)
        d.trainRequested.connect(self.datasets.run_train)
        self.cards.connect(self.card_panel)

    def _build_actions(self) -> None:
        S = QStyle.StandardPixmap
        act = lambda *a, **k: make_action(self, *a, **k)  # noqa: E731
        r, e = self.records, self.exports
        self.act_open = act("&Open Record…", r.ask_open_record, QKeySequence.StandardKey.Open,
                            "Open a WFDB record (.hea)", S.SP_DialogOpenButton)
        self.act_open_folder = act("Open &Folder or Dataset…", r.ask_open_folder, "Ctrl+Shift+O",
                                   "List every record of a folder (PhysioNet 2017 dataset with labels)", S.SP_DirOpenIcon)
        self.act_samples = act("Open Bundled &Samples", lambda: self.open_folder(str(SAMPLES), True, False), None,
                               "The 12 PhysioNet 2017 sample records shipped with the app")
        self.act_export_adv = act("Export Adversarial ECG as WFDB…", lambda: e.export_adversarial(), "Ctrl+E",
                                  "Write the adversarial example as a WFDB record with provenance",
                                  S.SP_DialogSaveButton)
        self.act_export_band = act("Export Band as WFDB…", lambda: e.export_band(), "Ctrl+Shift+E",
                                   "Write the band (min/max) and a few members as WFDB records")
        self.act_export_strip = act("Export Strip as PNG / SVG / PDF…", lambda: e.export_strip(), "Ctrl+Shift+S",
                                    "Save the ECG strip as an image or a print-ready PDF", S.SP_FileDialogDetailedView)
        self.act_quit = act("&Quit", self.close, "Ctrl+Q")
        self.act_attack = act("Run Attack", self.attacks.run_attack, "Ctrl+R", "Attack the current record",
                              S.SP_MediaPlay)
        self.act_band = act("Expand Band", self.attacks.run_band, "Ctrl+B",
                            "Band of adversarial examples around the current one", S.SP_MediaSeekForward)
        self.act_cancel = act("Cancel", self.cancel_jobs, "Esc", "Stop the running job", S.SP_BrowserStop)
        self.act_about = act("&About", self.show_about, "F1")

        mb = self.menuBar()
        m = mb.addMenu("&File")
        for a in (self.act_open, self.act_open_folder, self.act_samples):
            m.addAction(a)
        self.recent_menu = m.addMenu("Open &Recent")
        m.addSeparator()
        for a in (self.act_export_adv, self.act_export_band, self.act_export_strip, None, self.act_quit):
            m.addAction(a) if a is not None else m.addSeparator()
        m = mb.addMenu("&View")
        self.display.fill_menu(m)
        m.addSeparator()
        for d in (self.browser_dock, self.side_dock, self.dataset_dock):
            m.addAction(d.toggleViewAction())
        m = mb.addMenu("&Model")
        group = QActionGroup(self)  # the loaded model checked (none for a checkpoint file), see sync_model_menu
        group.setExclusionPolicy(QActionGroup.ExclusionPolicy.ExclusiveOptional)
        self.model_actions: dict[str, QAction] = {}
        for name, spec in BUNDLED.items():  # bundled weights: each architecture's, then trained variants
            a = act(spec.label, lambda _=False, name=name: self.load_model(name), tip=BUNDLED[name].help)
            a.setCheckable(True)
            group.addAction(a)
            self.model_actions[name] = a
            m.addAction(a)
        m.addAction(act("Load Checkpoint…", self.models.ask_open_model, "Ctrl+M",
                        "Load a .safetensors checkpoint or a paper-code .pth state_dict"))
        m = mb.addMenu("&Attack")
        for a in (self.act_attack, self.act_band, self.act_cancel):
            m.addAction(a)
        m = mb.addMenu("&Dataset")
        for i, text in enumerate(DATASET_TABS):
            m.addAction(act(text, lambda _=False, i=i: self.show_dataset_tab(i)))
        mb.addMenu("&Help").addAction(self.act_about)

        tb = QToolBar("Main", self)
        tb.setObjectName("toolbar-main")
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for a in (self.act_open, self.act_open_folder, None, self.act_attack, self.act_band, self.act_cancel, None,
                  self.act_export_adv, self.act_export_strip):
            tb.addAction(a) if a is not None else tb.addSeparator()
        for a, text in ((self.act_open, "Open"), (self.act_open_folder, "Open Folder"),
                        (self.act_export_adv, "Export WFDB"), (self.act_export_strip, "Export Image")):
            a.setIconText(text)
        self.addToolBar(tb)
        self.display.fill_toolbar(self.display_bar)
        self._refresh_recent()

    def sync_model_menu(self, spec: str | None) -> None:
        """Model menu: check the loaded bundled model (a click checks its entry before it loads)."""
        for name, a in self.model_actions.items():
            a.setChecked(name == spec)

    # ---- settings and recent files -------------------------------------------------------------------
    def _load_settings(self, restore_layout: bool) -> None:
        s = self.settings
        self.attack_panel.load(s)
        self.band_panel.load(s)
        self.dataset_panel.load_train(s)
        self.display.load(s)
        if restore_layout:
            geo, state = s.q.value("window/geometry"), s.q.value("window/state")
            if isinstance(geo, QByteArray):
                self.restoreGeometry(geo)
            if isinstance(state, QByteArray):
                self._docks_sized = self.restoreState(state)  # the user's own dock sizes

    def save_settings(self) -> None:
        s = self.settings
        self.attack_panel.save(s)
        self.band_panel.save(s)
        self.dataset_panel.save_train(s)
        s.set("model/spec", self.model_spec or s.get("model/spec"))
        s.q.setValue("window/geometry", self.saveGeometry())
        s.q.setValue("window/state", self.saveState())
        s.sync()

    def _refresh_recent(self) -> None:
        paths = self.settings.recent_files()
        self.recent_menu.clear()
        for p in paths:
            self.recent_menu.addAction(p).triggered.connect(lambda _=False, p=p: self.open_path(p))
        if not paths:
            self.recent_menu.addAction("(none)").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear Recent Files").triggered.connect(self._clear_recent)
        self.browser.set_recent(paths, self._clear_recent)

    def _clear_recent(self) -> None:
        self.settings.clear_recent()
        self._refresh_recent()

    def remember(self, path: str) -> None:
        self.settings.add_recent(path)
        self._refresh_recent()

    # ---- jobs, errors and the enabled state ---------------------------------------------------------
    def submit(self, fn, title: str, *, on_done=None, on_error=None, on_cancel=None, on_partial=None,
               priority: int = USER, group: str | None = None, replace_group: bool = False, kind: str = "") -> int:
        """Queue a job on the worker host; failures without `on_error` become an error dialog."""
        return self.host.submit(fn, title, on_done=on_done, on_error=on_error or self._job_failed,
                                on_cancel=on_cancel, on_partial=on_partial, priority=priority, group=group,
                                replace_group=replace_group, kind=kind)

    def _job_failed(self, one: str, details: str, _exc=None) -> None:
        self.show_error(one, details)

    def cancel_jobs(self) -> None:
        """Esc / Cancel: stop the running user job and drop the queued ones."""
        self.job_status.cancel_all()

    def busy_kinds(self) -> set[str]:
        """The kinds of the queued and running user jobs (derived from the worker host's jobs)."""
        return {j.kind for j in self.host.jobs(user_only=True)}

    def is_busy(self) -> bool:
        return bool(self.host.jobs(user_only=True))

    def staged(self, *steps) -> None:
        """Run `steps` one per event-loop turn (heavy redraws spread out; timers keep ticking)."""
        if not steps:
            return

        def run():
            if not self._closing:
                steps[0]()
                self.staged(*steps[1:])

        QTimer.singleShot(0, run)

    def note_error(self, message: str) -> None:
        """An error told in the status bar only (e.g. the start-up model failing to load)."""
        self.errors.append(message)
        self.status_msg.setText(message)
        self.errorShown.emit(message)

    def show_error(self, message: str, details: str = "") -> None:
        self.errors.append(message)
        self.status_msg.setText(message)
        if not self._closing:
            dialogs.show_error(self, message, details)
        self.errorShown.emit(message)

    def update_enabled(self) -> None:
        busy = self.busy_kinds()
        wb = self.wb
        attacking = bool(busy & {"attack", "band"})
        can_attack = wb.record is not None and wb.model is not None and not attacking
        self.act_attack.setEnabled(can_attack)
        self.attack_panel.run.setEnabled(can_attack)
        r = wb.attack_result
        ok = r is not None and bool(r.success)
        can_band = ok and not attacking
        self.act_band.setEnabled(can_band)
        hint = ("Run an attack first." if r is None else
                "The attack did not change the diagnosis: no band." if not ok else "")
        self.band_panel.set_ready(can_band, hint)
        self.act_export_adv.setEnabled(r is not None)
        self.act_export_band.setEnabled(wb.band_result is not None)
        self.act_export_strip.setEnabled(wb.record is not None)
        d = self.display  # strip tools that need a trace (calipers on an empty grid read 'HR 75 bpm')
        for a in (d.act_play, d.act_calipers, d.act_real, d.act_fit, d.act_free):
            a.setEnabled(wb.record is not None)
        self.act_cancel.setEnabled(bool(busy))
        certifier = getattr(self, "certifier", None)  # Attack ▸ Certify: a record, a model, not already running
        if certifier is not None:
            certifier.action.setEnabled(wb.record is not None and wb.model is not None and "certify" not in busy)
        self.dataset_panel.set_busy(bool(busy & {"dataset"}))
        self.card_panel.set_busy(bool(busy & {"dataset"}))

    def refresh_header(self) -> None:
        rec, detail = self.wb.record, getattr(getattr(self, "records", None), "detail", None)
        self.header.set_variants([fmt.record_header(rec), fmt.record_header(rec, compact=True)])
        self.subheader.set_variants([fmt.session_summary(self.wb, detail),
                                     fmt.session_summary(self.wb, detail, compact=True),
                                     fmt.session_summary(self.wb, detail, compact=True, brief=True)])

    def refresh_paper_status(self) -> None:
        """Status bar: whether the strip's paper is calibrated (free zoom, a channel not in mV)."""
        rec = self.wb.record
        self.job_status.set_paper(self.strip.is_calibrated(), getattr(rec, "units", "mV") if rec else "mV")

    def showEvent(self, ev) -> None:  # noqa: N802
        """First show without a saved layout: side docks sized for the screen (the Analysis panel
        wider where there is room, never narrower than its controls)."""
        super().showEvent(ev)
        if not getattr(self, "_docks_sized", False):
            self._docks_sized = True
            side = max(self.side_scroll.minimumWidth(), min(460, int(0.28 * self.width())))
            self.resizeDocks([self.browser_dock, self.side_dock], [300, side], Qt.Orientation.Horizontal)

    # ---- drag and drop: records (any of their files) and folders ------------------------------------
    def dragEnterEvent(self, ev) -> None:  # noqa: N802
        if ev.mimeData().hasUrls() and any(u.isLocalFile() for u in ev.mimeData().urls()):
            ev.acceptProposedAction()

    def dropEvent(self, ev) -> None:  # noqa: N802
        paths = [u.toLocalFile() for u in ev.mimeData().urls() if u.isLocalFile()]
        if paths:
            ev.acceptProposedAction()
            self.records.open_paths(paths)

    # ---- about and closing -------------------------------------------------------------------------
    def model_markdown(self) -> str | None:
        """The loaded model's card (engine.model_card), or None."""
        if self.wb.model is None:
            return None
        try:
            from engine.model_card import model_card

            return model_card(self.wb.model)
        except Exception:  # noqa: BLE001 - an incomplete card must not break the about box
            return None

    def show_about(self):
        clf = self.wb.model
        return dialogs.show_about(self, engine.__version__, clf.name if clf else None,
                                  self.wb.device_text or "no model loaded", self.model_markdown())

    def closeEvent(self, ev: QCloseEvent) -> None:  # noqa: N802
        self._closing = True
        try:
            self.strip.play(False)
            if self.persist:
                self.save_settings()
        finally:
            self.host.shutdown()
        super().closeEvent(ev)
