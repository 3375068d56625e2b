"""Shared set-up for the GUI tests (imported by tests/test_gui_*.py; not a test module).

Offscreen Qt, a temporary settings file and signal cache, and a model checkpoint: the installed
default model when present, else a small seeded untrained one written to a temporary folder.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402

SAMPLES = ROOT / "resources" / "samples"
DEFAULT_MODEL = ROOT / "resources" / "models" / "default.safetensors"


@pytest.fixture(scope="session")
def model_path(tmp_path_factory) -> str:
    if DEFAULT_MODEL.is_file():
        return str(DEFAULT_MODEL)
    import torch

    from engine.models.checkpoint import base_meta, save_checkpoint
    from engine.models.default_cnn import DefaultCNN

    # untrained weights with a sharpened output layer: classes differ between records and a
    # large-ε attack flips them (an untrained net's logits barely depend on its input)
    torch.manual_seed(0)
    module = DefaultCNN()
    with torch.no_grad():
        module.classifier.weight.mul_(300.0)
    path = tmp_path_factory.mktemp("model") / "test-default.safetensors"
    meta = base_meta("default")
    meta["name"] = "test-default"
    save_checkpoint(str(path), module, meta)
    return str(path)


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Temporary settings file and signal cache; error dialogs recorded instead of shown."""
    monkeypatch.setenv("ECGADV_SETTINGS", str(tmp_path / "settings.ini"))
    monkeypatch.setenv("ECGADV_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))  # crash logs of the guard
    from gui import dialogs

    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(dialogs, "show_error", lambda parent, msg, details="", title="Error": shown.append(
        (msg, details)))
    monkeypatch.setattr(dialogs, "confirm", lambda *a, **k: True)
    return {"tmp": tmp_path, "errors": shown, "settings": str(tmp_path / "settings.ini")}


def make_window(qtbot, model_path: str, settings_path: str, open_samples: bool = True):
    """A MainWindow on the bundled samples, shown, with the first record classified."""
    from engine.workbench.jobs import preload
    from gui.main_window import MainWindow
    from gui.settings import Settings

    preload()  # as the app does behind its splash screen (cheap after the first call)
    win = MainWindow(Settings(settings_path), model_spec=model_path, open_samples=False, restore_layout=False)
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    if open_samples:
        with qtbot.waitSignal(win.classified, timeout=60000):
            win.open_folder(str(SAMPLES), select_first=True, remember=False)
    return win


def shown_strip(qtbot, width: int, height: int, toolbar: bool = True, free_zoom: bool = False):
    """A StripView shown and exposed at width x height px (optionally bare and in free zoom)."""
    from gui.strip import StripView

    v = StripView(toolbar=toolbar)
    qtbot.addWidget(v)
    v.resize(width, height)
    if free_zoom:
        v.set_free_zoom(True)
    v.show()
    qtbot.waitExposed(v)
    return v


def shown_free_strip(qtbot, width: int, height: int):
    """A bare StripView (no toolbar) in free zoom, shown and exposed at width x height px."""
    return shown_strip(qtbot, width, height, toolbar=False, free_zoom=True)


def wait_idle(qtbot, win, timeout_s: float = 60.0) -> None:
    """Wait until no user job is queued or running."""
    qtbot.waitUntil(lambda: not win.is_busy(), timeout=int(timeout_s * 1000))


def fast_attack(win, eps_mv: float = 0.3, steps: int = 8, sap_steps: int = 8, method: str = "sap") -> None:
    """Attack settings that fool any model quickly (large ε, few steps)."""
    p = win.attack_panel
    p.method.setCurrentIndex(p.method.findData(method))
    p.field("eps_mv").setValue(eps_mv)
    p.field("alpha_mv").setValue(eps_mv / 5)
    p.field("steps").setValue(steps)
    p.field("sap_steps").setValue(sap_steps)


class Watchdog:
    """Measures the longest gap between ticks of a 10 ms QTimer in the GUI thread."""

    def __init__(self, interval_ms: int = 10) -> None:
        from PySide6.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self.last = None
        self.max_gap = 0.0
        self.max_gap_at = 0.0
        self.ticks = 0

    def _tick(self) -> None:
        now = time.perf_counter()
        if self.last is not None and now - self.last > self.max_gap:
            self.max_gap = now - self.last
            self.max_gap_at = now  # perf_counter time at the end of the longest gap
        self.last = now
        self.ticks += 1

    def start(self) -> None:
        # as the app does once its window is up (gui.app.run_gui): objects alive now are kept out
        # of later collections; else the garbage of every earlier test in this process makes a
        # full collection (possibly triggered in the worker thread) hold the lock for 200+ ms
        gc.collect()
        gc.freeze()
        self.last = time.perf_counter()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()
        gc.unfreeze()
