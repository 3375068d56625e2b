"""Strip layers are declared once (gui.strip.layers); the strip's legend, layer menu, export
legend and the window's settings keys come from those declarations."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gui.strip import layers as L  # noqa: E402


def test_every_layer_declared_once_with_unique_keys_shortcuts_and_orders():
    keys = [d.key for d in L.LAYER_DECLS]
    assert len(keys) == len(set(keys))
    assert L.LAYERS == tuple(keys)
    assert set(keys) >= {"original", "adversarial", "perturbation", "band", "members", "difference"}
    shortcuts = [d.shortcut for d in L.LAYER_DECLS if d.shortcut]
    assert len(shortcuts) == len(set(shortcuts))
    exp = [d.export_z for d in L.LAYER_DECLS if d.exported]
    assert len(exp) == len(set(exp))
    for d in L.LAYER_DECLS:
        assert d.label and d.text and d.icon_text and d.tooltip
        assert d.settings_key == f"view/layer/{d.key}"
        assert d.pen.width > 0 and len(d.pen.colour) in (3, 4)
        assert all(0 <= c <= 255 for c in d.pen.colour)
    assert L.DEFAULT_VISIBLE == {d.key: d.default_visible for d in L.LAYER_DECLS}
    assert L.DEFAULT_GAIN in L.PERTURBATION_GAINS


def test_layer_lookup_rejects_unknown_keys_by_name():
    assert L.layer("band") is L.LAYER["band"]
    with pytest.raises(ValueError, match="unknown layer 'bnad'.*original"):
        L.layer("bnad")
    with pytest.raises(ValueError):
        L.layer(None)


def test_legend_and_paper_texts():
    assert L.LAYER["perturbation"].legend_text(10) == "Perturbation ×10"
    assert L.LAYER["perturbation"].legend_text(100) == "Perturbation ×100"
    m = L.LAYER["members"]
    assert m.legend_text() == "Band members"
    assert m.legend_text(100, shown=40, total=40) == "Band members (40)"
    assert m.legend_text(100, shown=40, total=1000) == "Band members (40 of 1000)"
    assert m.paper_text(100, 1000) == "band members (1000)"
    assert L.LAYER["perturbation"].paper_text(10) == "perturbation ×10"


def test_gui_settings_defaults_match_the_declarations():
    from gui import settings

    defaults = settings.defaults() if hasattr(settings, "defaults") else settings.DEFAULTS
    for key, on in L.settings_defaults().items():
        assert defaults[key] is on, key


def test_layers_and_model_import_without_qt():
    """The declarations and the layout model are pure Python/numpy: they import (and work)
    with PySide6 and pyqtgraph made unimportable."""
    code = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6'):\n"
        "            raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from gui.strip import layers, lod, model\n"
        "assert 'PySide6' not in sys.modules and 'pyqtgraph' not in sys.modules\n"
        "print(layers.LAYERS)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "original" in r.stdout


# ------------------------------------------------------------------ the strip uses them (Qt)
@pytest.fixture
def view(qtbot):
    from gui_fixtures import shown_strip

    return shown_strip(qtbot, 1000, 600)


def test_strip_legend_menu_and_pens_come_from_the_declarations(view):
    from gui.strip import view as V

    n = 3000
    t = np.arange(n) / 300.0
    x = np.sin(2 * np.pi * t).astype(np.float32)
    view.set_record(x, 300.0, "sine")
    view.set_adversarial(x + 0.01)
    view.set_band(x - 0.02, x + 0.03)
    view.set_band_members(np.stack([x + 0.01 * k for k in range(5)]))
    view.set_tube(x - 0.005, x + 0.005)  # the certified tube (Attack ▸ Certify)
    view.set_annotations(np.array([1.0, 2.0]), ["N", "V"])  # a record's .atr
    view.set_layer_visible("difference", True)
    want = [L.LAYER[k].legend_text(100, 5, 5) for k in L.LAYERS]
    assert view.legend_labels() == want
    menu = [a.text() for a in view.toolbar.layer_actions.values()]
    assert menu == [L.LAYER[k].label.format(gain="N") for k in L.LAYERS]
    for k in L.LAYERS:
        assert view.layer_visible(k) is True
    for tr in view.renderer.traces:
        d = L.LAYER[tr.layer]
        assert tr.item.zValue() == d.z
        # the perturbation's min/max envelope is pale under its crimson mean line
        pen = L.LANE_ENVELOPE_PEN if tr.key == "perturbation" else d.pen
        assert tr.pen.color().getRgb()[:3] == tuple(pen.colour[:3])
        assert tr.pen.widthF() == pytest.approx(pen.width)
    assert V.DEFAULT_VISIBLE == L.DEFAULT_VISIBLE
    with pytest.raises(ValueError, match="unknown layer"):
        view.set_layer_visible("nope", True)


def test_paper_export_traces_follow_the_declarations(view):
    n = 3000
    x = np.sin(np.arange(n) / 30.0).astype(np.float32)
    view.set_record(x, 300.0, "sine")
    view.set_adversarial(x + 0.01)
    view.set_band(x - 0.02, x + 0.03)
    view.set_band_members(np.stack([x, x + 0.01]))
    view.set_layer_visible("difference", True)
    spec = view.paper_spec()
    labels = [tr.label for tr in spec.traces]
    # in export order, the band twice (strip and lane), members once (in the lane)
    assert labels == ["band", "band", "members", "original", "adversarial", "difference", "perturbation"]
    for tr in spec.traces:
        d = L.LAYER[tr.label]
        assert tr.width_mm == d.export_width_mm
        assert tr.colour.getRgb()[:3] == tuple(d.paper_colour[:3])
    view.set_layer_visible("perturbation", False)
    view.set_layer_visible("original", False)
    labels = [tr.label for tr in view.paper_spec().traces]
    assert labels == ["band", "members", "adversarial", "difference"]
