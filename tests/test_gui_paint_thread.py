"""gui.paint_on_gui_thread: Qt's raster fills stay on the GUI thread (no pooled helper threads
a frame would wait for while an engine job keeps the other cores busy)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = r"""
import os, sys
sys.path.insert(0, sys.argv[1])
os.environ["QT_QPA_PLATFORM"] = "offscreen"
import gui
if sys.argv[2] == "on":
    gui.paint_on_gui_thread()
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QApplication
app = QApplication([])
img = QImage(1600, 1000, QImage.Format.Format_ARGB32_Premultiplied)
p = QPainter(img)
p.fillRect(0, 0, 1600, 1000, QColor(10, 20, 30, 128))  # a translucent fill of 1000 spans
p.end()
names = [open(f"/proc/self/task/{t}/comm").read().strip() for t in os.listdir("/proc/self/task")]
print(sum(n.startswith("Thread (pooled)") for n in names))
"""


def _pooled_threads(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if k != "QT_NO_GUI_THREADPOOL"}
    out = subprocess.run([sys.executable, "-c", PROBE, str(ROOT), mode], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return int(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads through /proc (Linux)")
def test_large_fills_start_no_pooled_threads():
    baseline = _pooled_threads("off")
    if baseline == 0:
        pytest.skip("this Qt build paints large fills on the calling thread anyway")
    assert _pooled_threads("on") == 0


def test_a_value_already_set_is_left_alone(monkeypatch):
    import gui

    monkeypatch.setenv("QT_NO_GUI_THREADPOOL", "0")
    gui.paint_on_gui_thread()
    assert os.environ["QT_NO_GUI_THREADPOOL"] == "0"
    monkeypatch.delenv("QT_NO_GUI_THREADPOOL")
    gui.paint_on_gui_thread()
    assert os.environ["QT_NO_GUI_THREADPOOL"] == "1"
