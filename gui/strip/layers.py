"""Every layer of the ECG strip, declared once (pure Python: no Qt, importable anywhere).

A *layer* is something the user can show or hide: the original trace, the adversarial
trace, the perturbation lane, the band and its members, the difference.  Each
:class:`Layer` carries everything the rest of the program needs about it:

* ``key`` — the name in the API (``StripView.set_layer_visible(key, on)``) and in signals;
* ``label`` — the strip's legend text (``{gain}`` is replaced by the perturbation gain);
* ``text`` / ``icon_text`` / ``tooltip`` / ``shortcut`` — the window's menu entry, toolbar
  button text, tooltip and keyboard shortcut that toggle it;
* ``pen`` (colour, width in screen px), ``fill``, ``legend_pen`` — how it is drawn;
* ``default_visible`` — its visibility before any saved setting (``settings_key``);
* ``z`` — stacking order on screen (higher on top);
* ``exported`` / ``export_label`` / ``export_width_mm`` / ``export_z`` — whether and how it
  appears in the paper (PDF) export, and its legend text there.

``LAYERS`` is the tuple of keys in display order (legend, menus, toggles); ``LAYER`` maps a
key to its :class:`Layer`.  Furniture the strip draws without a toggle (calibration pulse,
lane zero line, play cursor) has its pen here too (``PULSE_PEN`` …), so all strip colours
live in this one file.  Colours are RGB or RGBA tuples of 0..255 ints.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Pen", "Layer", "LAYER_DECLS", "LAYERS", "LAYER", "DEFAULT_VISIBLE", "PERTURBATION_GAINS",
           "DEFAULT_GAIN", "INK", "ADVERSARIAL_RGB", "BAND_RGB", "PULSE_PEN", "LANE_ZERO_PEN",
           "CURSOR_PEN", "LANE_ENVELOPE_PEN", "LANE_BAR_PEN", "BAND_BAR_RGB", "ANNOTATION_RGB", "layer",
           "settings_defaults"]

Colour = tuple  # (r, g, b) or (r, g, b, a), 0..255


@dataclass(frozen=True)
class Pen:
    """A stroke: colour, width in screen pixels, dashed or solid."""

    colour: Colour
    width: float = 1.0
    dash: bool = False


INK = (20, 20, 20)                 # the original trace and the calibration pulse
ADVERSARIAL_RGB = (214, 18, 56)    # crimson: adversarial trace, perturbation lane
BAND_RGB = (30, 110, 200)          # blue: band (export colour; the fill is this, translucent)
DIFFERENCE_RGB = (0, 100, 200)
MEMBER_RGB = (150, 185, 235)
BAND_BAR_RGB = (206, 220, 238)     # the band fill over the paper, pre-blended (opaque bars)
TUBE_RGB = (0, 150, 90)            # green: the certified tube's edges
ANNOTATION_RGB = (112, 38, 150)    # purple: the record's reference annotations (labels)

PERTURBATION_GAINS = (10, 100)     # magnifications offered for the perturbation lane
DEFAULT_GAIN = 100


@dataclass(frozen=True)
class Layer:
    """One toggleable strip layer (see the module docstring for the fields)."""

    key: str
    label: str                 # legend text; "{gain}" -> perturbation gain
    text: str                  # menu / toggle text
    icon_text: str             # short text on a toolbar button
    tooltip: str
    shortcut: str | None       # e.g. "Ctrl+1"
    pen: Pen
    default_visible: bool
    z: float                   # on-screen stacking order (higher on top)
    exported: bool             # drawn in the paper (PDF) export
    export_label: str          # legend text in the PDF; "{gain}", "{n}" (members) replaced
    export_width_mm: float     # stroke width in the PDF (mm)
    export_z: int              # drawing order in the PDF (higher on top)
    legend_pen: Pen | None = None  # legend swatch, when not `pen`
    fill: Colour | None = None     # area fill (band)
    export_colour: Colour | None = None  # PDF colour, when not pen.colour
    toolbar: bool = True           # a button on the window's toolbar (else the View menu only)

    @property
    def settings_key(self) -> str:
        """Key of the saved visibility in the GUI settings."""
        return f"view/layer/{self.key}"

    @property
    def swatch(self) -> Pen:
        """The pen the legend shows for this layer."""
        return self.legend_pen or self.pen

    @property
    def paper_colour(self) -> Colour:
        return self.export_colour or self.pen.colour

    def legend_text(self, gain: int = DEFAULT_GAIN, shown: int = 0, total: int = 0) -> str:
        """The legend label; for members with `total` known, how many of them are drawn."""
        if self.key == "members" and total:
            return f"{self.label} ({total})" if shown == total else f"{self.label} ({shown} of {total})"
        return self.label.format(gain=gain)

    def paper_text(self, gain: int = DEFAULT_GAIN, n_members: int = 0) -> str:
        return self.export_label.format(gain=gain, n=n_members)


LAYER_DECLS: tuple[Layer, ...] = (
    Layer("original", "Original", "Original", "Original", "Show or hide the original trace", "Ctrl+1",
          Pen(INK, 1.0),  # 1 px: a plain path, 2 ms/frame cheaper than 1.2
          True, 11, True, "original", 0.3, 2),
    # drawn *under* the original, wider: a crimson halo around the black trace, which shows
    # wherever the two differ and keeps the original readable
    Layer("adversarial", "Adversarial", "Adversarial", "Adversarial", "Show or hide the adversarial trace",
          "Ctrl+2", Pen(ADVERSARIAL_RGB, 2.6), True, 10, True, "adversarial", 0.15, 3),
    Layer("perturbation", "Perturbation ×{gain}", "Perturbation", "δ",
          "Show the perturbation δ = adversarial − original, magnified in a lane under each strip (Ctrl+3)",
          "Ctrl+3", Pen(ADVERSARIAL_RGB, 1.0), True, 11, True, "perturbation ×{gain}", 0.18, 5),
    Layer("band", "Band (min–max)", "Band", "Band", "Show or hide the band trace", "Ctrl+4",
          Pen((120, 165, 225), 1.0), True, 2, True, "band", 0.1, 0,
          fill=BAND_RGB + (45,), export_colour=BAND_RGB),
    Layer("members", "Band members", "Band members", "Members", "Show or hide the band members trace",
          "Ctrl+5", Pen(MEMBER_RGB, 1.0), True, 3, True, "band members ({n})", 0.08, 1,
          legend_pen=Pen((20, 80, 170, 160), 1.0)),
    Layer("difference", "Difference (adv − orig, ×1)", "Difference", "Diff",
          "Show adversarial − original at true scale on the strip (Ctrl+6)", "Ctrl+6",
          Pen(DIFFERENCE_RGB, 1.0), False, 12, True, "difference ×1", 0.18, 4),
    # randomised smoothing (engine.certify): record ± the certified L∞ bound, its two edges dashed;
    # not in the paper export
    Layer("tube", "Certified L∞ tube", "Certified tube", "Tube",
          "Show or hide the certified L∞ tube (record ± radius/√n) of the last Certify (Ctrl+7)", "Ctrl+7",
          Pen(TUBE_RGB, 1.0, dash=True), True, 4, False, "certified tube", 0.1, 0),
    # the record's reference annotations (.atr): beat symbols and rhythm changes at each row's top
    # (gui.strip.marks); View menu only (a record seldom has them)
    Layer("annotations", "Annotations (.atr)", "Annotations", "Ann",
          "Show or hide the record's reference annotations: beat symbols (N, V, A …) and rhythm changes "
          "from its .atr file, at the top of each row (Ctrl+8)", "Ctrl+8",
          Pen(ANNOTATION_RGB, 1.0), True, 650, True, "annotations", 0.0, 6, toolbar=False),
)

LAYERS: tuple[str, ...] = tuple(d.key for d in LAYER_DECLS)
LAYER: dict[str, Layer] = {d.key: d for d in LAYER_DECLS}
DEFAULT_VISIBLE: dict[str, bool] = {d.key: d.default_visible for d in LAYER_DECLS}

# furniture: drawn by the strip, not toggleable
PULSE_PEN = Pen(INK, 1.6)                              # calibration pulse, 1 mV × 0.2 s
LANE_ZERO_PEN = Pen((120, 120, 120, 180), 1.0, dash=True)  # zero line of the perturbation lane
CURSOR_PEN = Pen((0, 150, 60), 2.0)                    # play cursor
# the perturbation lane: min/max envelope of δ pale (a solid block for PGD's sample-rate sign
# flips), its mean per few pixels in the layer's crimson on top (the sign structure), and a
# scale bar of 1 mV of lane (= 1000/gain µV of δ) left of t = 0
LANE_ENVELOPE_PEN = Pen((240, 172, 184), 1.0)
LANE_BAR_PEN = Pen(ADVERSARIAL_RGB, 1.6)


def layer(key: str) -> Layer:
    """The declaration of layer `key`; ValueError naming the valid keys otherwise."""
    try:
        return LAYER[key]
    except (KeyError, TypeError):
        raise ValueError(f"unknown layer {key!r}; one of {', '.join(LAYERS)}") from None


def settings_defaults() -> dict[str, bool]:
    """{settings key: default visibility} for every layer (for the GUI settings' defaults)."""
    return {d.settings_key: d.default_visible for d in LAYER_DECLS}
