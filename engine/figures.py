"""Matplotlib figures for the engine's plots and reports, without pyplot: a Figure on its own Agg
canvas has no global state, so plots can be drawn from worker threads (the GUI's jobs) and never
pick up or switch a GUI backend."""
from __future__ import annotations

import base64
import io

from .outputs import atomic_write

__all__ = ["figure", "save_png", "png_bytes", "png_base64"]


def figure(width_in: float, height_in: float, dpi: int = 110):
    """A new matplotlib Figure (width × height in inches) on an Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def save_png(fig, path: str, overwrite: bool = False) -> str:
    """Lay out `fig` and write it to `path` as a PNG, atomically (temporary file + rename; an
    existing file refused unless `overwrite`)."""
    fig.tight_layout()
    with atomic_write(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format="png")
    return path


def png_bytes(fig) -> bytes:
    """`fig` as PNG file contents."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def png_base64(fig) -> str:
    """`fig` as a base64 PNG, for a data: URL in an HTML report."""
    return base64.b64encode(png_bytes(fig)).decode("ascii")
