"""ECG strip widget family: layers, layout model, paper grid, strip view, decimation,
overview, calipers, export.

Only :class:`StripView` is meant to be embedded; see :mod:`gui.strip.view` for its API.
Every strip layer is declared once in :mod:`gui.strip.layers` (``LAYERS``, ``LAYER``);
those two and :mod:`gui.strip.model` import without Qt.
"""
from .layers import LAYER, LAYERS

__all__ = ["StripView", "LAYERS", "LAYER"]


def __getattr__(name: str):
    # StripView (Qt, pyqtgraph) is imported on first use, so the Qt-free parts of the
    # package (layers, model, decimate) import without Qt
    if name == "StripView":
        from .view import StripView

        return StripView
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
