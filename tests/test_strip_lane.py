"""The perturbation lane tells the truth (issue 14 §2): its axis follows the gain, it has an
amplitude scale in µV of δ, the cursor reads δ from the data, PGD's sample-rate sign flips
show their structure, a saturating δ stays in its lane, units are µV throughout.

Runs offscreen with pytest-qt.
"""
from __future__ import annotations

import numpy as np
import pytest

import gui  # noqa: F401  (PySide6 refcount workaround first)

FS = 300.0
N = 9000  # 30 s


def _ecg(n=N) -> np.ndarray:
    t = np.arange(n) / FS
    return (0.9 * np.exp(-((t % 0.8) - 0.3) ** 2 / 2e-4) + 0.1 * np.sin(2 * np.pi * t)).astype(np.float32)


def _pgd_delta(n=N, eps=0.01, seed=0, flip=0.3) -> np.ndarray:
    """±eps per sample (PGD's sign steps): a 1 Hz square wave whose signs flip at random
    in `flip` of the samples (so the min/max envelope is ±eps everywhere)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    s = np.sign(np.sin(2 * np.pi * t) + 1e-9)
    s[rng.random(n) < flip] *= -1
    return (eps * s).astype(np.float32)


@pytest.fixture
def view(qtbot):
    from gui_fixtures import shown_strip

    return shown_strip(qtbot, 1400, 900)


def _painted_left_labels(view) -> list[str]:
    """The left axis' labels as painted now (forces a paint)."""
    view.plot.grab()
    return [s for s in view._left_axis._labels.values() if s]


def test_axis_label_follows_the_gain_and_shows_microvolts(view, qtbot):
    x = _ecg()
    view.set_record(x, FS, "lane")
    view.set_adversarial(x + _pgd_delta())
    view.set_view(0, 10)  # one tall row: lane ticks shown
    labels = _painted_left_labels(view)
    assert any(s.endswith("×100") for s in labels), labels
    assert "+5 µV" in labels and "−5 µV" in labels  # half a mV of lane at ×100
    view.set_perturbation_gain(10)
    labels = _painted_left_labels(view)
    assert any(s.endswith("×10") for s in labels), labels
    assert not any("×100" in s for s in labels), labels  # stale label of the old gain
    assert "+50 µV" in labels
    # the lane's scale bar: 1 mV of lane tall = 100 µV of δ at ×10, labelled so
    bx, by = view.renderer.lane_bar.getData()
    lb = view.model.lane_baseline(0)
    assert np.isclose(by, lb).any() and np.isclose(by, lb + 1.0).any()
    assert np.nanmax(np.abs(np.diff(by[3:5]))) == pytest.approx(1.0)
    texts = [lab.toPlainText() for lab in view.renderer.lane_labels if lab.isVisible()]
    assert texts and all("δ ×10 · bar 100 µV" in s for s in texts)


def test_cursor_reads_delta_at_its_time_not_its_height(view):
    x = _ecg()
    t = np.arange(N) / FS
    d = (0.004 * np.sin(2 * np.pi * 0.37 * t)).astype(np.float32)  # |δ| <= 4 µV
    view.set_record(x, FS, "readout")
    view.set_adversarial(x + d)
    view.set_mode("rows")
    r, xr = 1, 3.3717  # record time 13.3717 s, between samples
    y = view.model.lane_baseline(r) - 0.95  # near the lane's bottom: -9.5 µV by the cursor's height
    view.crosshair.set_pos(xr, y)
    tt = 13.3717
    want = float(np.interp(tt, t, d)) * 1000
    txt = view.info.text()
    assert f"{want:+.2f} µV" in txt, txt
    assert "-9.5" not in txt and "−9.5" not in txt
    # the readout follows a gain change without moving the mouse, and does not depend on it
    view.set_perturbation_gain(10)
    assert f"{want:+.2f} µV" in view.info.text()
    # outside the record: no value
    tv, v, where = view.view_to_record(-0.2, view.model.lane_baseline(0) - 0.5)
    assert where == "lane" and np.isnan(v)


def test_pgd_lane_shows_its_square_wave_not_a_solid_block(view):
    x = _ecg()
    delta = _pgd_delta()
    view.set_record(x, FS, "pgd")
    view.set_adversarial(x + delta)
    view.set_mode("rows")
    view.fit()  # the overview: every row, ~2 samples per pixel
    segs = view._segments()
    assert segs and (segs[0].i1 - segs[0].i0) > 1.5 * segs[0].n_bins  # decimated, not raw
    env = view.renderer.trace["perturbation"]
    mean = view.renderer.trace["perturbation_mean"]
    assert env.item.isVisible() and mean.item.isVisible()
    # the envelope is a pale block (±1 mV of lane); the crimson line on it is the bin mean
    assert env.pen.color().lightness() > mean.pen.color().lightness() + 60
    xm, ym = mean.item.getData()
    ok = np.isfinite(ym)
    g = view.perturbation_gain()
    for sg in segs:
        sel = ok & (np.abs(ym - sg.lane_base) <= view.model.lane_mv / 2 + 1e-9)
        t_rec = xm[sel] + sg.row_t0
        sel_row = (t_rec >= sg.row_t0) & (t_rec < sg.row_t0 + view.model.spr)
        vals = (ym[sel][sel_row] - sg.lane_base) / g  # δ in mV
        # its sign follows the underlying 1 Hz square wave in most bins
        want = np.sign(np.sin(2 * np.pi * t_rec[sel_row]))
        away = np.abs(np.sin(2 * np.pi * t_rec[sel_row])) > 0.2  # not at a transition
        assert np.mean(np.sign(vals[away]) == want[away]) > 0.75  # chance: 0.5
        assert np.abs(vals).mean() < 0.7 * 0.01  # a mean, not the envelope's ±ε
    # points: about one per MEAN_BIN_PX pixels, not one per sample
    from gui.strip import lod

    assert ok.sum() <= sum(sg.n_bins for sg in segs) / lod.MEAN_BIN_PX + 2 * len(segs)


def test_saturating_delta_stays_in_its_lane_and_says_so(view):
    x = _ecg()
    view.set_record(x, FS, "sat")
    view.set_adversarial(x + _pgd_delta(eps=0.05))  # 50 µV × 100 = 5 mV, the lane is 2 mV
    view.set_view(0, 10)
    half = view.model.lane_mv / 2
    lbs = np.array([sg.lane_base for sg in view._segments()])
    for key in ("perturbation", "perturbation_mean"):
        _, y = view.renderer.trace[key].item.getData()
        y = y[np.isfinite(y)]
        assert y.size and np.abs(y[:, None] - lbs[None, :]).min(axis=1).max() <= half + 1e-9
    shown = [lab for lab in view.renderer.lane_labels if lab.isVisible()]
    assert shown and "clipped at ±10 µV" in shown[0].toPlainText()
    assert "max |δ| 50.0 µV" in shown[0].toolTip()  # (in the text too when the strip is wide enough)
    view.set_perturbation_gain(10)
    texts = [lab.toPlainText() for lab in view.renderer.lane_labels if lab.isVisible()]
    assert "clipped" not in texts[0]


def test_gain_survives_new_attacks_and_records(view):
    x = _ecg()
    view.set_record(x, FS, "a")
    view.set_perturbation_gain(10)
    view.set_adversarial(x + _pgd_delta())
    view.set_adversarial(x + _pgd_delta(seed=1))
    assert view.perturbation_gain() == 10 and "Perturbation ×10" in view.legend_labels()
    view.set_record(x[::-1].copy(), FS, "b")
    view.set_adversarial(x[::-1] + _pgd_delta())
    assert view.perturbation_gain() == 10
    assert any(s.endswith("×10") for s in _painted_left_labels(view))


def test_lane_text_uses_microvolts_for_the_budget_and_max_delta():
    from gui.strip.model import StripModel

    m = StripModel()
    x = _ecg()
    m.set_record(x, FS)
    m.set_adversarial(x + _pgd_delta(eps=0.0075))
    assert m.max_abs_delta_uv() == pytest.approx(7.5, abs=1e-3)
    assert "max |δ| 7.5 µV" in m.lane_text() and "bar 10 µV" in m.lane_text()
    assert m.lane_uv_per_mv() == 10.0
    m.set_gain(10)
    assert m.lane_uv_per_mv() == 100.0 and "bar 100 µV" in m.lane_text()


def test_lane_label_sits_on_the_first_row_shown_only(view):
    """The label is the same for every row; drawn on every lane it hid the start of each row's δ."""
    x = _ecg()
    view.set_record(x, FS, "label")
    view.set_adversarial(x + _pgd_delta())
    view.set_mode("rows")
    view.set_view(10.0, 30.0)  # rows 1 and 2 of three 10-s rows
    rows = sorted({sg[0] for sg in view._segments()})
    assert len(rows) >= 2
    shown = [lab for lab in view.renderer.lane_labels if lab.isVisible()]
    assert len(shown) == 1
    assert shown[0].pos().y() == pytest.approx(view.model.lane_top(rows[0]))
    assert "δ ×100 · bar 10 µV" in shown[0].toPlainText()
    # every lane still names its gain on the axis
    labels = _painted_left_labels(view)
    assert sum(s.endswith("×100") for s in labels) >= len(rows), labels


def test_lane_label_is_compact_on_a_narrow_strip(view, qtbot):
    """At laptop sizes the full label hid half of a continuous row's δ: a narrow strip shows the
    gain and scale bar only, the full text (max |δ|) in the tooltip, and goes back when widened."""
    x = _ecg()
    view.set_record(x, FS, "narrow")
    view.set_adversarial(x + _pgd_delta())
    view.set_view(0, 10)
    lab = next(lab for lab in view.renderer.lane_labels if lab.isVisible())
    assert "max |δ| 10.0 µV" in lab.toPlainText()
    view.resize(560, 900)
    qtbot.waitUntil(lambda: "max |δ|" not in lab.toPlainText())
    assert lab.toPlainText().startswith("δ ×100 · bar 10 µV")
    assert "max |δ| 10.0 µV" in lab.toolTip()
    assert lab.textItem.boundingRect().width() < 0.7 * lab.full_width_px  # covers less of the lane
    view.resize(1400, 900)
    qtbot.waitUntil(lambda: "max |δ| 10.0 µV" in lab.toPlainText())
