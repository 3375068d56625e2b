"""ECG strip widget family: paper grid, strip view, decimation, overview, calipers, export.

Only :class:`StripView` is meant to be embedded; see :mod:`gui.strip.view` for its API.
"""
from .view import LAYERS, StripView

__all__ = ["StripView", "LAYERS"]
