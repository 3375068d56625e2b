"""The main window: record browser (left), ECG strip (centre), model / attack / band panels
(right), dataset actions (bottom, on demand), status bar with progress, ETA and Cancel.

All engine work goes through `self.host` (gui.worker.WorkerHost): one QThread, a job queue, results
delivered to callbacks in the GUI thread. The window never runs engine code itself.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (QComboBox, QDockWidget, QDoubleSpinBox, QGroupBox, QHBoxLayout, QLabel, QMainWindow,
                               QProgressBar, QPushButton, QScrollArea, QSizePolicy, QStyle, QToolBar, QVBoxLayout,
                               QWidget)

import engine
from engine.errors import MissingSamples, UserError

from . import dialogs, jobs
from .panels.attack_panel import AttackPanel
from .panels.band_panel import BandPanel
from .panels.common import ADVERSARIAL_COLOR, BAD_COLOR, BAND_COLOR, CLASS_NAMES, class_text
from .panels.dataset_panel import DatasetPanel
from .panels.model_panel import ModelPanel
from .panels.record_browser import RecordBrowser
from .settings import Settings
from .strip_adapter import LAYERS, StripAdapter
from .worker import BACKGROUND, USER, WorkerHost

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
SAMPLES = RESOURCES / "samples"
FILL_BATCH = 32
LAYER_TEXT = {"original": ("Original", "Ctrl+1"), "adversarial": ("Adversarial", "Ctrl+2"),
              "perturbation": ("Perturbation", "Ctrl+3"), "band": ("Band", "Ctrl+4"),
              "members": ("Band members", "Ctrl+5"), "difference": ("Difference", "Ctrl+6")}


def _clock(t: float) -> str:
    """Record time as m:ss (or h:mm:ss)."""
    t = int(round(t))
    h, m, sec = t // 3600, (t // 60) % 60, t % 60
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def _fmt_eta(s: float) -> str:
    if s < 1:
        return "<1 s"
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


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

    def __init__(self, settings: Settings | None = None, model_spec: str | None = None,
                 open_samples: bool = True, restore_layout: bool = True) -> None:
        super().__init__()
        self.settings = settings or Settings()
        self.setWindowTitle("ECG Adversarial Workbench")
        self.host = WorkerHost(self, init=jobs.configure_threads)
        self.clf = None
        self.model_spec = model_spec or self.settings.get("model/spec")
        self.device_text = ""
        self.ds = None
        self.rec: jobs.OpenedRecord | None = None
        self.pred: tuple[str, dict] | None = None
        self.result = None
        self.result_method = None
        self.result_params = None
        self.band = None
        self.errors: list[str] = []
        self._fill_gen = 0
        self._closing = False
        self.band_options: dict = {}  # extra engine.band.BandParams fields (tests use small ones)
        self.persist = True  # save settings on close (the --screenshot mode turns this off)
        self._build_ui()
        self._build_actions()
        self._load_settings(restore_layout)
        self.host.jobStarted.connect(self._job_started)
        self.host.jobProgress.connect(self._job_progress)
        self.host.jobEnded.connect(self._job_ended)
        self.host.jobsChanged.connect(self._update_enabled)
        self.host.unhandledError.connect(self.show_error)
        self._update_enabled()
        self.load_model(self.model_spec, quiet=True)
        if open_samples:
            self.open_folder(str(SAMPLES), select_first=True, remember=False)

    # =========================================================================================
    # UI
    # =========================================================================================
    def _build_ui(self) -> None:
        self.resize(1500, 950)
        central = QWidget()
        v = QVBoxLayout(central)
        v.setContentsMargins(6, 4, 6, 2)
        v.setSpacing(3)
        self.header = QLabel("No record open")
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setStyleSheet("font-size: 11pt;")
        self.subheader = QLabel("")
        self.subheader.setTextFormat(Qt.TextFormat.RichText)
        self.subheader.setStyleSheet("color: #444;")
        for lab in (self.header, self.subheader):
            lab.setWordWrap(True)
            lab.setMinimumWidth(100)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.header, 1)
        self.lead_label = QLabel("Lead")
        self.lead_combo = QComboBox()
        self.lead_combo.setToolTip("Which channel of the record to show and attack")
        self.lead_combo.activated.connect(self._lead_chosen)
        top.addWidget(self.lead_label)
        top.addWidget(self.lead_combo)
        self.lead_label.setVisible(False)
        self.lead_combo.setVisible(False)
        v.addLayout(top)
        v.addWidget(self.subheader)
        self.display_bar = QToolBar("Display", central)
        self.display_bar.setObjectName("toolbar-display")
        self.display_bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.display_bar.setStyleSheet("QToolBar { border: none; spacing: 1px; } "
                                       "QToolButton { padding: 2px 5px; }")
        v.addWidget(self.display_bar)
        self.strip = StripAdapter(central)
        self.strip.widget.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        v.addWidget(self.strip.widget, 1)
        self.setCentralWidget(central)

        # left: records
        self.browser = RecordBrowser()
        self.browser_dock = self._dock("Records", self.browser, Qt.DockWidgetArea.LeftDockWidgetArea, "records")
        self.browser.recordActivated.connect(self._record_activated)
        self.browser.openFileRequested.connect(self.ask_open_record)
        self.browser.openFolderRequested.connect(self.ask_open_folder)
        self.browser.recentRequested.connect(self.open_path)

        # right: model, attack, band
        self.model_panel = ModelPanel()
        self.attack_panel = AttackPanel()
        self.band_panel = BandPanel()
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
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(360)
        self.side_dock = self._dock("Analysis", scroll, Qt.DockWidgetArea.RightDockWidgetArea, "analysis")
        self.model_panel.modelRequested.connect(lambda spec: self.load_model(spec))
        self.model_panel.browseRequested.connect(self.ask_open_model)
        self.attack_panel.runRequested.connect(self.run_attack)
        self.band_panel.runRequested.connect(self.run_band)

        # bottom: dataset actions (hidden until asked for)
        self.dataset_panel = DatasetPanel()
        self.dataset_dock = self._dock("Dataset", self.dataset_panel, Qt.DockWidgetArea.BottomDockWidgetArea,
                                       "dataset")
        self.dataset_dock.hide()
        self.resizeDocks([self.browser_dock, self.side_dock], [330, 390], Qt.Orientation.Horizontal)
        self.dataset_panel.evaluateRequested.connect(self.run_evaluate)
        self.dataset_panel.attackEvalRequested.connect(self.run_attack_eval)
        self.dataset_panel.robustnessRequested.connect(self.run_robustness)
        self.dataset_panel.trainRequested.connect(self.run_train)

        # status bar
        sb = self.statusBar()
        self.status_msg = QLabel("Ready")
        sb.addWidget(self.status_msg, 1)
        self.eta = QLabel("")
        self.eta.setMinimumWidth(110)
        self.progress = QProgressBar()
        self.progress.setFixedWidth(220)
        self.progress.setTextVisible(True)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setToolTip("Stop the running job (Esc)")
        self.cancel_btn.clicked.connect(self.cancel_jobs)
        for w in (self.eta, self.progress, self.cancel_btn):
            sb.addPermanentWidget(w)
            w.setVisible(False)
        self.device_label = QLabel("")
        self.device_label.setStyleSheet("color: #555; padding-left: 8px;")
        sb.addPermanentWidget(self.device_label)

    def _dock(self, title: str, widget: QWidget, area, name: str) -> QDockWidget:
        d = QDockWidget(title, self)
        d.setObjectName(f"dock-{name}")
        d.setWidget(widget)
        d.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                      | QDockWidget.DockWidgetFeature.DockWidgetClosable
                      | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, d)
        return d

    def _act(self, text: str, slot, shortcut=None, tip: str = "", icon=None, checkable=False) -> QAction:
        a = QAction(text, self)
        if shortcut:
            a.setShortcut(QKeySequence(shortcut))
        if tip:
            a.setToolTip(tip + (f" ({QKeySequence(shortcut).toString()})" if shortcut else ""))
            a.setStatusTip(tip)
        if icon is not None:
            a.setIcon(self.style().standardIcon(icon))
        a.setCheckable(checkable)
        if slot is not None:
            (a.toggled if checkable else a.triggered).connect(slot)
        return a

    def _build_actions(self) -> None:
        S = QStyle.StandardPixmap
        mb = self.menuBar()
        # ---- File
        self.act_open = self._act("&Open Record…", self.ask_open_record, QKeySequence.StandardKey.Open,
                                  "Open a WFDB record (.hea)", S.SP_DialogOpenButton)
        self.act_open_folder = self._act("Open &Folder or Dataset…", self.ask_open_folder, "Ctrl+Shift+O",
                                         "List every record of a folder (PhysioNet 2017 dataset with labels)",
                                         S.SP_DirOpenIcon)
        self.act_samples = self._act("Open Bundled &Samples", lambda: self.open_folder(str(SAMPLES), True, False),
                                     None, "The 12 PhysioNet 2017 sample records shipped with the app")
        self.act_export_adv = self._act("Export Adversarial ECG as WFDB…", self.export_adversarial, "Ctrl+E",
                                        "Write the adversarial example as a WFDB record with provenance",
                                        S.SP_DialogSaveButton)
        self.act_export_band = self._act("Export Band as WFDB…", self.export_band, "Ctrl+Shift+E",
                                         "Write the band (min/max) and a few members as WFDB records")
        self.act_export_strip = self._act("Export Strip as PNG / SVG / PDF…", self.export_strip, "Ctrl+Shift+S",
                                          "Save the ECG strip as an image or a print-ready PDF",
                                          S.SP_FileDialogDetailedView)
        self.act_quit = self._act("&Quit", self.close, "Ctrl+Q")
        m = mb.addMenu("&File")
        for a in (self.act_open, self.act_open_folder, self.act_samples):
            m.addAction(a)
        self.recent_menu = m.addMenu("Open &Recent")
        m.addSeparator()
        for a in (self.act_export_adv, self.act_export_band, self.act_export_strip):
            m.addAction(a)
        m.addSeparator()
        m.addAction(self.act_quit)

        # ---- View
        m = mb.addMenu("&View")
        self.layer_actions: dict[str, QAction] = {}
        for layer in LAYERS:
            text, key = LAYER_TEXT[layer]
            a = self._act(text, lambda on, layer=layer: self._layer_toggled(layer, on), key,
                          f"Show or hide the {text.lower()} trace", checkable=True)
            self.layer_actions[layer] = a
            m.addAction(a)
        m.addSeparator()
        g = QActionGroup(self)
        self.act_gain = {}
        for gain in (10, 100):
            a = self._act(f"Perturbation ×{gain}", lambda on, gain=gain: on and self._gain_changed(gain), None,
                          f"Draw the perturbation magnified {gain} times on its own axis", checkable=True)
            g.addAction(a)
            self.act_gain[gain] = a
            m.addAction(a)
        m.addSeparator()
        g2 = QActionGroup(self)
        self.act_rows = self._act("Stacked Rhythm Strips", lambda on: on and self._mode_changed("rows"), "Ctrl+T",
                                  "The record as stacked rows (like a printed rhythm strip)", checkable=True)
        self.act_cont = self._act("Continuous Strip", lambda on: on and self._mode_changed("continuous"),
                                  "Ctrl+Shift+T", "One continuous strip with an overview bar", checkable=True)
        for a in (self.act_rows, self.act_cont):
            g2.addAction(a)
            m.addAction(a)
        self.act_real = self._act("Real Size (25 mm/s, 10 mm/mV)", self._real_size_changed, "Ctrl+0",
                                  "Draw at true paper scale using the screen's physical DPI", checkable=True)
        self.act_play = self._act("Play (sweep like a monitor)", self._play_toggled, "Ctrl+Space",
                                  "Sweep through the record in real time", S.SP_MediaPlay, checkable=True)
        m.addAction(self.act_real)
        m.addAction(self.act_play)
        self._view_menu = m
        m.addSeparator()
        for d in (self.browser_dock, self.side_dock, self.dataset_dock):
            m.addAction(d.toggleViewAction())

        # ---- Model
        m = mb.addMenu("&Model")
        self.act_model_default = self._act("Default Model", lambda: self.load_model("default"))
        self.act_model_paper = self._act("Paper CNN (Han et al.)", lambda: self.load_model("paper-cnn"))
        self.act_model_file = self._act("Load Checkpoint…", self.ask_open_model, "Ctrl+M",
                                        "Load a .safetensors checkpoint or a paper-code .pth state_dict")
        for a in (self.act_model_default, self.act_model_paper, self.act_model_file):
            m.addAction(a)

        # ---- Attack
        m = mb.addMenu("&Attack")
        self.act_attack = self._act("Run Attack", self.run_attack, "Ctrl+R", "Attack the current record",
                                    S.SP_MediaPlay)
        self.act_band = self._act("Expand Band", self.run_band, "Ctrl+B",
                                  "Band of adversarial examples around the current one", S.SP_MediaSeekForward)
        self.act_cancel = self._act("Cancel", self.cancel_jobs, "Esc", "Stop the running job", S.SP_BrowserStop)
        for a in (self.act_attack, self.act_band, self.act_cancel):
            m.addAction(a)

        # ---- Dataset
        m = mb.addMenu("&Dataset")
        texts = ("Evaluate Model…", "Attack Evaluation…", "Robustness Curve…", "Train Model…")
        for i, text in enumerate(texts):
            m.addAction(self._act(text, lambda _=False, i=i: self.show_dataset_tab(i)))

        # ---- Help
        m = mb.addMenu("&Help")
        self.act_about = self._act("&About", self.show_about, "F1")
        m.addAction(self.act_about)

        # ---- toolbars
        tb = QToolBar("Main", self)
        tb.setObjectName("toolbar-main")
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        tb.addAction(self.act_open)
        tb.addAction(self.act_open_folder)
        tb.addSeparator()
        tb.addAction(self.act_attack)
        tb.addAction(self.act_band)
        tb.addAction(self.act_cancel)
        tb.addSeparator()
        tb.addAction(self.act_export_adv)
        tb.addAction(self.act_export_strip)
        self.act_open.setIconText("Open")
        self.act_open_folder.setIconText("Open Folder")
        self.act_export_adv.setIconText("Export WFDB")
        self.act_export_strip.setIconText("Export Image")
        self.addToolBar(tb)
        vb = self.display_bar
        for layer in LAYERS:
            vb.addAction(self.layer_actions[layer])
        self.layer_actions["adversarial"].setIconText("Adversarial")
        self.layer_actions["perturbation"].setIconText("δ")
        self.layer_actions["perturbation"].setToolTip("Show the perturbation δ = adversarial − original, "
                                                      "magnified in a lane under each strip (Ctrl+3)")
        self.layer_actions["members"].setIconText("Members")
        self.layer_actions["difference"].setIconText("Diff")
        self.layer_actions["difference"].setToolTip("Show adversarial − original at true scale on the strip "
                                                     "(Ctrl+6)")
        vb.addSeparator()
        self.gain_combo = QComboBox()
        self.gain_combo.addItem("δ ×10", 10)
        self.gain_combo.addItem("δ ×100", 100)
        self.gain_combo.setToolTip("Magnification of the perturbation δ (adversarial − original) drawn in the "
                                   "lane under each strip")
        self.gain_combo.currentIndexChanged.connect(lambda _i: self._gain_changed(self.gain_combo.currentData()))
        vb.addWidget(self.gain_combo)
        self.mode_combo = QComboBox()
        self.mode_combo.addItem("Rows", "rows")
        self.mode_combo.addItem("Continuous", "continuous")
        self.mode_combo.setToolTip("Stacked rhythm strips, or one continuous strip with an overview bar")
        self.mode_combo.currentIndexChanged.connect(lambda _i: self._mode_changed(self.mode_combo.currentData()))
        vb.addWidget(self.mode_combo)
        self.row_spin = QDoubleSpinBox()
        self.row_spin.setRange(2.0, 60.0)
        self.row_spin.setDecimals(0)
        self.row_spin.setSuffix(" s")
        self.row_spin.setToolTip("Seconds per rhythm strip row")
        self.row_spin.setKeyboardTracking(False)
        self.row_spin.setFixedWidth(58)
        self.row_spin.valueChanged.connect(self._row_seconds_changed)
        vb.addWidget(self.row_spin)
        self.act_real.setIconText("Real size")
        self.act_fit = self._act("Fit", lambda: (self.act_real.setChecked(False), self.strip.go_home()), None,
                                 "Back to the start, rows fitted to the width (Home in the strip)")
        self.act_play.setIconText("Play")
        self.act_calipers = self._act("Calipers", self.strip.set_calipers_visible, "Ctrl+K",
                                      "Drag the calipers to read Δt, ΔmV and heart rate", checkable=True)
        for a in (self.act_real, self.act_play, self.act_calipers):
            vb.addAction(a)
        self._view_menu.insertActions(self._view_menu.actions()[-4], [self.act_fit, self.act_calipers])
        # the strip can change its own state (legend clicks, keys): follow it
        self.strip.layerVisibilityChanged.connect(self._strip_layer_changed)
        self.strip.modeChanged.connect(self._strip_mode_changed)
        self.strip.realSizeChanged.connect(self._strip_real_changed)
        self.strip.playingChanged.connect(self._strip_playing_changed)
        self._refresh_recent()

    # =========================================================================================
    # settings
    # =========================================================================================
    def _load_settings(self, restore_layout: bool) -> None:
        s = self.settings
        self.attack_panel.load(s)
        self.band_panel.load(s)
        self._applying = True
        try:
            for layer, a in self.layer_actions.items():
                on = s.get(f"view/layer/{layer}")
                a.setChecked(on)
                self.strip.set_layer_visible(layer, on)
            gain = s.get("view/perturbation_gain")
            gain = gain if gain in (10, 100) else 10
            self.act_gain[gain].setChecked(True)
            self.gain_combo.setCurrentIndex(self.gain_combo.findData(gain))
            self.strip.set_perturbation_gain(gain)
            mode = s.get("view/mode")
            mode = mode if mode in ("rows", "continuous") else "rows"
            (self.act_rows if mode == "rows" else self.act_cont).setChecked(True)
            self.mode_combo.setCurrentIndex(0 if mode == "rows" else 1)
            self.strip.set_mode(mode)
            self.row_spin.setValue(s.get("view/seconds_per_row"))
            self.strip.set_seconds_per_row(self.row_spin.value())
            self.act_real.setChecked(s.get("view/real_size"))
            self.strip.set_real_size(self.act_real.isChecked())
        finally:
            self._applying = False
        if restore_layout:
            geo = s.q.value("window/geometry")
            state = s.q.value("window/state")
            if isinstance(geo, QByteArray):
                self.restoreGeometry(geo)
            if isinstance(state, QByteArray):
                self.restoreState(state)

    def save_settings(self) -> None:
        s = self.settings
        self.attack_panel.save(s)
        self.band_panel.save(s)
        s.set("model/spec", self.model_spec or "default")
        s.q.setValue("window/geometry", self.saveGeometry())
        s.q.setValue("window/state", self.saveState())
        s.sync()

    def _refresh_recent(self) -> None:
        paths = self.settings.recent_files()
        self.recent_menu.clear()
        for p in paths:
            a = self.recent_menu.addAction(p)
            a.triggered.connect(lambda _=False, p=p: self.open_path(p))
        if not paths:
            self.recent_menu.addAction("(none)").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear Recent Files").triggered.connect(self._clear_recent)
        self.browser.set_recent(paths, self._clear_recent)

    def _clear_recent(self) -> None:
        self.settings.clear_recent()
        self._refresh_recent()

    def _remember(self, path: str) -> None:
        self.settings.add_recent(path)
        self._refresh_recent()

    # =========================================================================================
    # display options
    # =========================================================================================
    def _layer_toggled(self, layer: str, on: bool) -> None:
        self.strip.set_layer_visible(layer, on)
        self.settings.set(f"view/layer/{layer}", bool(on))

    def _gain_changed(self, gain: int) -> None:
        if gain not in (10, 100):
            return
        self.act_gain[gain].setChecked(True)
        self.gain_combo.blockSignals(True)
        self.gain_combo.setCurrentIndex(self.gain_combo.findData(gain))
        self.gain_combo.blockSignals(False)
        self.strip.set_perturbation_gain(gain)
        self.settings.set("view/perturbation_gain", gain)

    def _mode_changed(self, mode: str) -> None:
        if getattr(self, "_applying", False):
            return
        (self.act_rows if mode == "rows" else self.act_cont).setChecked(True)
        self.mode_combo.blockSignals(True)
        self.mode_combo.setCurrentIndex(0 if mode == "rows" else 1)
        self.mode_combo.blockSignals(False)
        self.row_spin.setEnabled(mode == "rows")
        self.strip.set_mode(mode)
        self.settings.set("view/mode", mode)

    def _row_seconds_changed(self, v: float) -> None:
        if getattr(self, "_applying", False):
            return
        self.strip.set_seconds_per_row(v)
        self.settings.set("view/seconds_per_row", float(v))

    def _real_size_changed(self, on: bool) -> None:
        if getattr(self, "_applying", False):
            return
        self.strip.set_real_size(on)
        self.settings.set("view/real_size", bool(on))

    def _play_toggled(self, on: bool) -> None:
        self.strip.play(on)

    def _strip_layer_changed(self, layer: str, on: bool) -> None:
        a = self.layer_actions.get(layer)
        if a is not None and a.isChecked() != on:
            a.blockSignals(True)
            a.setChecked(on)
            a.blockSignals(False)
            self.settings.set(f"view/layer/{layer}", bool(on))

    def _strip_mode_changed(self, mode: str) -> None:
        if self.mode_combo.currentData() != mode:
            self._mode_changed(mode)

    def _strip_real_changed(self, on: bool) -> None:
        if self.act_real.isChecked() != on:
            self.act_real.blockSignals(True)
            self.act_real.setChecked(on)
            self.act_real.blockSignals(False)

    def _strip_playing_changed(self, on: bool) -> None:
        self.act_play.blockSignals(True)
        self.act_play.setChecked(on)
        self.act_play.blockSignals(False)
        self.act_play.setIconText("Stop" if on else "Play")

    # =========================================================================================
    # jobs and status bar
    # =========================================================================================
    def submit(self, fn, title: str, *, on_done=None, on_error=None, on_cancel=None, on_partial=None,
               priority: int = USER, group: str | None = None, replace_group: bool = False, kind: str = "") -> int:
        return self.host.submit(fn, title, on_done=on_done, on_error=on_error or self._job_failed,
                                on_cancel=on_cancel, on_partial=on_partial, priority=priority, group=group,
                                replace_group=replace_group, kind=kind)

    def _job_failed(self, one: str, details: str, _exc=None) -> None:
        self.show_error(one, details)

    def _user_job(self, job_id: int):
        return next((j for j in self.host.jobs(user_only=True) if j.job_id == job_id), None)

    def _job_started(self, job_id: int, title: str, priority: int) -> None:
        if priority >= BACKGROUND:
            return
        self.status_msg.setText(title + "…")
        self.progress.setRange(0, 0)  # busy until the first progress report
        self.progress.setVisible(True)
        self.cancel_btn.setVisible(True)
        self.eta.setVisible(True)
        self.eta.setText("")

    def _job_progress(self, job_id: int, done: int, total: int, msg: str) -> None:
        info = self._user_job(job_id)
        if info is None:
            return
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(min(done, total))
            el = time.monotonic() - (info.started_at or time.monotonic())
            if done > 0 and el > 0.3:
                self.eta.setText(f"ETA {_fmt_eta(el / done * max(total - done, 0))}")
        if msg:
            self.status_msg.setText(msg)

    def _job_ended(self, job_id: int, how: str, info) -> None:
        """Any end of a job (the host has already forgotten it): the busy state follows."""
        if info.priority < BACKGROUND and not self.is_busy():
            for w in (self.progress, self.eta, self.cancel_btn):
                w.setVisible(False)
            if how in ("cancelled", "dropped"):
                self.status_msg.setText(f"{info.title}: cancelled")
            elif how == "failed":
                self.status_msg.setText(f"{info.title}: failed")
            elif how == "done":
                self.status_msg.setText("Ready")
        self._update_enabled()

    def _staged(self, *steps) -> None:
        """Run `steps` one per event-loop turn (heavy redraws spread out; timers keep ticking)."""
        if not steps:
            return
        first, rest = steps[0], steps[1:]

        def run():
            if self._closing:
                return
            first()
            self._staged(*rest)

        QTimer.singleShot(0, run)

    def cancel_jobs(self) -> None:
        """Esc / Cancel: stop the running user job and drop the queued ones."""
        for job in self.host.jobs(user_only=True):
            self.host.cancel(job.job_id)

    def busy_kinds(self) -> set[str]:
        """The kinds of the queued and running user jobs (derived from the worker host's jobs)."""
        return {j.kind for j in self.host.jobs(user_only=True)}

    def is_busy(self) -> bool:
        return bool(self.host.jobs(user_only=True))

    def show_error(self, message: str, details: str = "") -> None:
        self.errors.append(message)
        self.status_msg.setText(message)
        if not self._closing:
            dialogs.show_error(self, message, details)
        self.errorShown.emit(message)

    def _update_enabled(self) -> None:
        busy = self.busy_kinds()
        has_rec = self.rec is not None
        has_model = self.clf is not None
        attacking = bool(busy & {"attack", "band"})
        can_attack = has_rec and has_model and not attacking
        self.act_attack.setEnabled(can_attack)
        self.attack_panel.run.setEnabled(can_attack)
        ok = self.result is not None and bool(self.result.success)
        can_band = ok and not attacking
        self.act_band.setEnabled(can_band)
        if self.result is None:
            hint = "Run an attack first."
        elif not ok:
            hint = "The attack did not change the diagnosis: no band."
        else:
            hint = ""
        self.band_panel.set_ready(can_band, hint)
        self.act_export_adv.setEnabled(self.result is not None)
        self.act_export_band.setEnabled(self.band is not None)
        self.act_export_strip.setEnabled(has_rec)
        self.act_cancel.setEnabled(bool(busy))
        self.dataset_panel.set_busy(bool(busy & {"dataset"}))

    # =========================================================================================
    # model
    # =========================================================================================
    def load_model(self, spec: str, quiet: bool = False) -> None:
        self.model_panel.set_spec(spec)
        self.model_panel.info.setText(f"Loading {spec}…")

        def done(res):
            clf, dev = res
            dev = dev.replace("(1 threads)", "(1 thread)")
            self.clf, self.device_text, self.model_spec = clf, dev, spec
            self.settings.set("model/spec", spec)
            self.model_panel.set_model_info(clf, dev)
            self.device_label.setText(dev)
            self._clear_attack()
            self.browser.clear_predictions()
            self._start_fill()
            if self.rec is not None:
                self.classify_current()
            self._update_enabled()
            self.modelLoaded.emit(clf)

        def failed(one, details, exc=None):
            if self.clf is None:
                self.model_panel.info.setText(f"<span style='color:{BAD_COLOR}'>No model: {one}</span>")
                self.model_panel.info.setTextFormat(Qt.TextFormat.RichText)
            else:
                self.model_panel.set_spec(self.model_spec)
                self.model_panel.set_model_info(self.clf, self.device_text)
            if quiet:
                self.errors.append(one)
                self.status_msg.setText(one)
                self.errorShown.emit(one)
            else:
                self.show_error(one, details)

        self.submit(jobs.load_model(spec), f"Loading model {os.path.basename(spec)}", on_done=done,
                    on_error=failed, kind="model")

    def ask_open_model(self) -> None:
        path = dialogs.ask_open_file(self, "Load model checkpoint", self.settings.get("dirs/model"),
                                     "Model checkpoints (*.safetensors *.pth *.pt);;All files (*)")
        if path:
            self.settings.set("dirs/model", os.path.dirname(path))
            self.load_model(path)

    # =========================================================================================
    # records and datasets
    # =========================================================================================
    def ask_open_record(self) -> None:
        path = dialogs.ask_open_file(self, "Open WFDB record", self.settings.get("dirs/record") or str(SAMPLES),
                                     "WFDB headers (*.hea);;All files (*)")
        if path:
            self.open_path(path)

    def ask_open_folder(self) -> None:
        path = dialogs.ask_directory(self, "Open folder or dataset", self.settings.get("dirs/dataset") or str(SAMPLES))
        if path:
            self.open_folder(path, select_first=True)

    def open_path(self, path: str) -> None:
        """A record (any of its files, or the base path) or a folder."""
        if os.path.isdir(path):
            self.open_folder(path, select_first=True)
        else:
            self.open_record(path)

    def open_folder(self, folder: str, select_first: bool = True, remember: bool = True,
                    then_select: str | None = None) -> None:
        def done(ds):
            self.ds = ds
            self.browser.set_dataset(ds.folder, ds.names, ds.labels, ds.label_file)
            self.dataset_panel.set_source(ds.folder, len(ds.names), len(ds.labels))
            if remember:
                self.settings.set("dirs/dataset", ds.folder)
                self._remember(ds.folder)
            self._start_fill()
            self.datasetListed.emit(ds.folder)
            if then_select:
                self.browser.select(then_select, emit=False)
            elif select_first and ds.names:
                self.browser.select(ds.names[0], emit=True)

        self.submit(jobs.list_dataset(folder), f"Listing {folder}", on_done=done, kind="list")

    def open_record(self, path: str, remember: bool = True) -> None:
        """Open one record file; its folder is listed in the browser."""
        from engine.records import record_base

        base = record_base(os.path.abspath(path))
        folder, name = os.path.split(base)

        def opened(rec):
            if remember:
                self.settings.set("dirs/record", folder)
                self._remember(base + ".hea")
            if self.ds is None or os.path.abspath(self.ds.folder) != folder:
                self.open_folder(folder, select_first=False, remember=False, then_select=name)
            else:
                self.browser.select(name, emit=False)
            self._show_record(rec)

        self._load_record(path, opened)

    def _record_activated(self, name: str) -> None:
        if self.ds is None:
            return
        self._load_record(self.ds.path(name), self._show_record, label=self.ds.label(name))

    def _load_record(self, path: str, on_done, label: str | None = None, lead: str | None = None,
                     fill_gaps: bool = False) -> None:
        def failed(one, details, exc=None):
            if not fill_gaps and isinstance(exc, MissingSamples) and exc.fillable:
                question = (f"{os.path.basename(path)}: {exc.n_missing} samples are missing (longest gap "
                            f"{exc.longest_gap_s:.2f} s).\n\nInterpolate short gaps (up to 0.5 s) "
                            "and open the record anyway?")
                if dialogs.confirm(self, question, "Missing samples"):
                    self._load_record(path, on_done, label, lead, fill_gaps=True)
                    return
            self.show_error(one, details)

        self.submit(jobs.open_record(path, label, lead, fill_gaps), f"Opening {os.path.basename(path)}",
                    on_done=on_done, on_error=failed, group="open", replace_group=True, kind="open")

    def _lead_chosen(self, _i: int) -> None:
        rec, lead = self.rec, self.lead_combo.currentData()
        if rec is None or not lead or lead == rec.lead:
            return
        self._load_record(rec.path, self._show_record, label=rec.label, lead=lead, fill_gaps=rec.gaps_filled)

    def _show_record(self, rec: jobs.OpenedRecord) -> None:
        self.rec = rec
        self.pred = None
        self.lead_combo.clear()
        for name, is_ecg in rec.leads:
            self.lead_combo.addItem(name if is_ecg else f"{name} (not ECG)", name)
        self.lead_combo.setCurrentIndex(max(0, self.lead_combo.findData(rec.lead)))
        multi = len(rec.leads) > 1
        self.lead_label.setVisible(multi)
        self.lead_combo.setVisible(multi)
        self._clear_attack()
        self.strip.set_record(rec.x_mv, rec.fs, rec.name)
        self._update_header()
        self.setWindowTitle(f"{rec.name} — ECG Adversarial Workbench")
        self.recordShown.emit(rec.name)
        self.classify_current()
        self._update_enabled()

    def classify_current(self) -> None:
        rec, clf = self.rec, self.clf
        if rec is None or clf is None:
            return

        def done(res):
            if self.rec is not rec or self.clf is not clf:
                return
            self.pred = res
            pred, probs = res
            self.model_panel.set_probs(probs, None, rec.label)
            self.browser.update_row(rec.name, pred=pred, probs=probs)
            self._update_header()
            self.classified.emit(rec.name, res)

        self.submit(jobs.classify(clf, rec.x_mv, rec.fs), f"Classifying {rec.name}", on_done=done, kind="classify",
                    group="classify", replace_group=True)

    def _clear_attack(self) -> None:
        self.result = self.result_params = self.result_method = None
        self.band = None
        if self.rec is not None and (self.strip.state.get("adversarial") or self.strip.state.get("band")):
            rec, view = self.rec, self.strip.view_range()

            def reset():
                if self.rec is rec and self.result is None:
                    self.strip.set_record(rec.x_mv, rec.fs, rec.name)

            def restore():
                if self.rec is rec and self.result is None and view[1] > view[0]:
                    self.strip.set_view(*view)  # stay where the user was looking

            self._staged(reset, restore)
        self.attack_panel.clear()
        self.band_panel.clear()
        if self.pred is not None and self.rec is not None:
            self.model_panel.set_probs(self.pred[1], None, self.rec.label)
        else:
            self.model_panel.set_probs(None, None, None)
        self._update_enabled()

    def _update_header(self) -> None:
        rec = self.rec
        if rec is None:
            self.header.setText("No record open")
            self.subheader.setText("")
            return
        dur = f"{rec.duration_s:.1f} s" if rec.duration_s < 120 else f"{rec.duration_s / 60:.1f} min"
        label = (f"reference label <b>{class_text(rec.label, long=True)}</b>" if rec.label
                 else "no reference label")
        gaps = " &nbsp;·&nbsp; <span style='color:#a05a00'>short gaps interpolated</span>" if rec.gaps_filled else ""
        self.header.setText(f"<b>{rec.name}</b> &nbsp;·&nbsp; {dur} &nbsp;·&nbsp; {rec.fs:g} Hz &nbsp;·&nbsp; "
                            f"lead {rec.lead} &nbsp;·&nbsp; {label}{gaps}")
        parts = []
        name = lambda c: CLASS_NAMES.get(c, c)  # noqa: E731
        if self.pred is not None:
            p, probs = self.pred
            parts.append(f"Model ({self.clf.name if self.clf else '?'}): <b>{name(p)}</b> {100 * probs[p]:.0f} %")
        elif self.clf is not None:
            parts.append("Model: classifying…")
        r = self.result
        if r is not None:
            what = f"{self.result_method.upper()} ε {self.result_params.eps_mv:g} mV"
            pl = r.placement
            if pl.n < len(r.x0):
                what += f" on {_clock(pl.src_start / r.fs)}–{_clock((pl.src_start + pl.n) / r.fs)}"
            if r.success:
                parts.append(f"<span style='color:{ADVERSARIAL_COLOR}'>after {what}: <b>{name(r.adv_pred)}</b> "
                             f"{100 * r.adv_probs[r.adv_pred]:.0f} % — diagnosis changed</span>")
            else:
                parts.append(f"after {what}: <b>{name(r.adv_pred)}</b> {100 * r.adv_probs[r.adv_pred]:.0f} % "
                             "— not fooled")
        if self.band is not None:
            parts.append(f"<span style='color:{BAND_COLOR}'>band: {self.band.members.shape[0]} ECGs</span>")
        self.subheader.setText(" &nbsp;│&nbsp; ".join(parts))

    # ---- background fill of durations / predictions ----------------------------------------------
    def _start_fill(self) -> None:
        """Durations and predictions for every listed record, in background batches that give way
        to user jobs (a dataset of 8528 records lists at once and fills in over time)."""
        self._fill_gen += 1
        self.host.cancel_group("fill")
        ds, clf = self.ds, self.clf
        if ds is None:
            return
        for i in range(0, len(ds.names), FILL_BATCH):
            self._submit_fill(ds, clf, ds.names[i:i + FILL_BATCH], self._fill_gen)

    def _submit_fill(self, ds, clf, names: list[str], gen: int) -> None:
        def done(res):
            if gen != self._fill_gen:
                return
            self.browser.update_rows(res["rows"])
            if res["rest"]:
                self._submit_fill(ds, clf, res["rest"], gen)

        self.host.submit(jobs.fill_batch(ds, names, clf, yield_to=self.host.user_waiting), "Filling table",
                         on_done=done, on_error=lambda *_: None, priority=BACKGROUND, group="fill")

    # =========================================================================================
    # attack and band
    # =========================================================================================
    def run_attack(self) -> None:
        if self.rec is None:
            self.show_error("Open a record first.")
            return
        if self.clf is None:
            self.show_error("No model loaded: choose one in the Model panel (or load a checkpoint).")
            return
        if self.busy_kinds() & {"attack", "band"}:
            return
        rec, clf = self.rec, self.clf
        method = self.attack_panel.method_key()
        params = self.attack_panel.params()
        self.attack_panel.save(self.settings)
        self._clear_attack()
        self.attack_panel.show_running(method)
        self.browser.update_row(rec.name, status="running", status_tip="", fooled=False)

        def done(res):
            r, p = res
            status = ("→ " + r.adv_pred) if r.success else ("held" if r.success is False else "at target")
            verdict = "diagnosis changed" if r.success else "not fooled" if r.success is False else "already the target"
            self.browser.update_row(rec.name, status=status, fooled=bool(r.success),
                                    status_tip=f"{method.upper()} ε {p.eps_mv:g} mV: {r.orig_pred} → {r.adv_pred} "
                                               f"({verdict})")
            if self.rec is not rec:
                return
            self.result, self.result_method, self.result_params = r, method, p
            gain = 100 if p.eps_mv * 100 <= 1.0 + 1e-9 else 10  # keep the ×gain trace inside its ±1 mV lane

            def draw():
                if self.result is not r:
                    return
                if r.fs != rec.fs or len(r.x0) != len(rec.x_mv):  # show both at the model's rate
                    self.strip.set_record(r.x0, r.fs, rec.name)
                self.strip.set_adversarial(r.x_adv)
                pl = r.placement
                if pl.n < len(r.x0):  # a long record: the model saw (and the attack changed) one window
                    self.strip.set_view(pl.src_start / r.fs, (pl.src_start + pl.n) / r.fs)

            def panels():
                if self.result is not r:
                    return
                self.attack_panel.show_result(r, method, p.eps_mv)
                self.model_panel.set_probs(r.orig_probs, r.adv_probs, rec.label)
                self.pred = (r.orig_pred, r.orig_probs)
                self._update_header()
                self._update_enabled()
                self.attackFinished.emit(r)

            # one piece per event-loop turn, so no single turn keeps the GUI thread busy for long
            self._staged(lambda: self._gain_changed(gain) if self.strip.state.get("gain") != gain else None,
                         draw, panels)

        def cancelled():
            self.browser.update_row(rec.name, status="cancelled")
            if self.rec is rec:
                self.attack_panel.clear("Attack cancelled.")

        def failed(one, details, exc=None):
            self.browser.update_row(rec.name, status="error", status_tip=one)
            if self.rec is rec:
                self.attack_panel.clear("Attack failed.")
            self.show_error(one, details)

        self.submit(jobs.attack(clf, rec, method, params), f"{method.upper()} attack on {rec.name}",
                    on_done=done, on_cancel=cancelled, on_error=failed, kind="attack")

    def run_band(self) -> None:
        r, rec, clf = self.result, self.rec, self.clf
        if r is None or not r.success:
            self.show_error("Expanding a band needs a successful attack on the current record.")
            return
        if self.busy_kinds() & {"attack", "band"}:
            return
        trials, sd = self.band_panel.params()
        self.band_panel.save(self.settings)
        params = self.result_params
        self.band_panel.clear()

        def done(b):
            if self.result is not r:
                return
            self.band = b

            def finish():
                if self.band is not b:
                    return
                self.band_panel.show_result(b)
                self._update_header()
                self._update_enabled()
                self.bandFinished.emit(b)

            self._staged(lambda: self.band is b and self.strip.set_band(b.lo, b.hi),
                         lambda: self.band is b and self.strip.set_band_members(b.members), finish)

        options = {"style": self.band_panel.style(), **self.band_options}
        self.submit(jobs.band(clf, r, params, trials, sd, seed=params.seed, **options),
                    f"Band around {rec.name}", on_done=done, kind="band")

    # =========================================================================================
    # export
    # =========================================================================================
    def _model_name(self) -> str:
        return self.model_spec if self.model_spec in ("default", "paper-cnn") else (self.clf.name if self.clf else "?")

    def export_adversarial(self, out_dir: str | None = None) -> None:
        r, rec = self.result, self.rec
        if r is None:
            self.show_error("Nothing to export: run an attack first.")
            return
        out_dir = out_dir or dialogs.ask_directory(self, "Folder for the adversarial WFDB record",
                                                   self.settings.get("dirs/export") or os.path.expanduser("~"))
        if not out_dir:
            return
        self.settings.set("dirs/export", out_dir)
        base = os.path.join(out_dir, f"{r.record}_{self.result_method}")
        overwrite = False
        if os.path.exists(base + ".hea") or os.path.exists(base + ".dat"):
            if not dialogs.confirm(self, f"{base}.hea exists. Replace it?", "Replace record"):
                return
            overwrite = True

        def done(path):
            self.status_msg.setText(f"Wrote {path}.hea")
            self._remember(path + ".hea")
            self.exported.emit("adversarial", path)

        self.submit(jobs.export_adversarial(out_dir, r, model=self._model_name(), method=self.result_method,
                                            params=self.result_params, source=rec.path, overwrite=overwrite),
                    "Writing adversarial example", on_done=done, kind="export")

    def export_band(self, out_dir: str | None = None, members: int = 10) -> None:
        b, rec = self.band, self.rec
        if b is None:
            self.show_error("Nothing to export: expand a band first.")
            return
        out_dir = out_dir or dialogs.ask_directory(self, "Folder for the band WFDB records",
                                                   self.settings.get("dirs/export") or os.path.expanduser("~"))
        if not out_dir:
            return
        self.settings.set("dirs/export", out_dir)
        base = os.path.join(out_dir, f"{b.record}_{self.result_method}_band")
        overwrite = False
        if os.path.exists(base + ".hea"):
            if not dialogs.confirm(self, f"{base}.hea exists. Replace the band records?", "Replace records"):
                return
            overwrite = True

        def done(paths):
            self.status_msg.setText(f"Wrote {paths['band']}.hea and {len(paths['members'])} members")
            self.exported.emit("band", paths)

        self.submit(jobs.export_band(out_dir, b, model=self._model_name(), method=self.result_method,
                                     params=self.result_params, source=rec.path, members=members,
                                     overwrite=overwrite),
                    "Writing band", on_done=done, kind="export")

    def export_strip(self, path: str | None = None) -> None:
        if self.rec is None:
            self.show_error("Nothing to export: open a record first.")
            return
        if not path:
            suggestion = os.path.join(self.settings.get("dirs/export") or os.path.expanduser("~"),
                                      f"{self.rec.name}.png")
            path = dialogs.ask_save_file(self, "Export strip", suggestion,
                                         "PNG image (*.png);;SVG vector image (*.svg);;PDF at paper scale (*.pdf)")
        if not path:
            return
        if "." not in os.path.basename(path):
            path += ".png"
        self.settings.set("dirs/export", os.path.dirname(os.path.abspath(path)))
        try:
            self.strip.export(path)
        except UserError as exc:
            self.show_error(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - the strip's own failures must not kill the app
            from .worker import describe_exception

            self.show_error(*describe_exception(exc))
            return
        self.status_msg.setText(f"Wrote {path}")
        self.exported.emit("strip", path)

    # =========================================================================================
    # dataset actions
    # =========================================================================================
    def show_dataset_tab(self, index: int) -> None:
        if not self.dataset_dock.isVisible():
            self.dataset_dock.show()
            self.resizeDocks([self.dataset_dock], [max(280, self.height() // 3)], Qt.Orientation.Vertical)
        self.dataset_dock.raise_()
        self.dataset_panel.tabs.setCurrentIndex(index)

    def _need_dataset(self) -> bool:
        if self.ds is None:
            self.show_error("Open a folder or dataset first (File ▸ Open Folder or Dataset).")
            return False
        if self.clf is None:
            self.show_error("No model loaded.")
            return False
        return True

    def run_evaluate(self, split: str) -> None:
        if not self._need_dataset():
            return

        def done(res):
            self.dataset_panel.show_evaluation(res)
            self.browser.update_rows({n: {"pred": p} for n, p in res.get("predictions", {}).items()})

        self.submit(jobs.evaluate(self.ds, split, self.clf), f"Evaluating {self.clf.name}", on_done=done,
                    kind="dataset")

    def run_attack_eval(self, split: str, limit: int) -> None:
        if not self._need_dataset():
            return
        method = self.attack_panel.method_key()
        params = self.attack_panel.params()
        self.submit(jobs.attack_eval(self.ds, split, self.clf, method, params, limit),
                    f"{method.upper()} attack evaluation", on_done=self.dataset_panel.show_attack_eval,
                    kind="dataset")

    def run_robustness(self, split: str, limit: int, eps: str) -> None:
        if not self._need_dataset():
            return
        method = self.attack_panel.method_key()
        params = self.attack_panel.params()
        self.dataset_panel.show_robustness([])
        self.submit(jobs.robustness(self.ds, split, self.clf, method, params, eps, limit),
                    f"{method.upper()} robustness curve",
                    on_partial=lambda d: self.dataset_panel.show_robustness(d["table"]),
                    on_done=lambda d: self.dataset_panel.show_robustness(d["table"], done=True), kind="dataset")

    def run_train(self, split: str, arch: str, epochs: int, out: str) -> None:
        if self.ds is None:
            self.show_error("Open a folder or dataset first (File ▸ Open Folder or Dataset).")
            return
        if not out.endswith(".safetensors"):
            self.show_error("The checkpoint file name must end in .safetensors")
            return
        if not os.path.isabs(out):
            out = os.path.join(os.path.dirname(os.path.abspath(self.ds.folder)), out)
        if os.path.exists(out) and not dialogs.confirm(self, f"{out} exists. Replace it?", "Replace checkpoint"):
            return
        self.dataset_panel.reset_training()

        def done(res):
            self.dataset_panel.tr_summary.setText(f"Saved {res['out']} (best validation F1 "
                                                  f"{res['best'].get('f1_mean_nao', float('nan')):.3f}). "
                                                  "Load it with Model ▸ Load Checkpoint.")

        self.submit(jobs.train(self.ds, split, arch, epochs, out), f"Training {arch}",
                    on_partial=self.dataset_panel.add_epoch, on_done=done, kind="dataset")

    # =========================================================================================
    # about and closing
    # =========================================================================================
    def model_card(self) -> dict | None:
        clf = self.clf
        if clf is None:
            return None
        m = clf.meta
        val = (m.get("metrics") or {}).get("validation") or {}
        tr = m.get("training") or {}
        card = {"Name": clf.name, "Architecture": m.get("arch"),
                "Classes": ", ".join(f"{c} {CLASS_NAMES.get(c, '')}" for c in clf.classes),
                "Input": f"{m.get('fs'):g} Hz, {m.get('length')} samples, {m.get('units')}"}
        if val:
            card["Validation"] = (f"accuracy {val.get('accuracy', 0):.3f}, mean F1 (N,A,O) "
                                  f"{val.get('f1_mean_nao', 0):.3f} on {val.get('n')} records")
        for k in ("dataset", "split", "validation", "best_epoch", "app_version"):
            if k in tr:
                card[f"Training {k.replace('_', ' ')}"] = tr[k]
        return card

    def model_markdown(self) -> str | None:
        if self.clf is None:
            return None
        try:
            from engine.model_card import model_card

            return model_card(self.clf)
        except Exception:  # noqa: BLE001 - an incomplete card must not break the about box
            return None

    def show_about(self):
        return dialogs.show_about(self, engine.__version__, self.model_card(), self.device_text or "no model loaded",
                                  self.model_markdown())

    def closeEvent(self, ev: QCloseEvent) -> None:  # noqa: N802
        self._closing = True
        try:
            self.strip.play(False)
            if self.persist:
                self.save_settings()
        finally:
            self.host.shutdown()
        super().closeEvent(ev)
