"""A channel that is not in mV (ABP in mmHg, RESP ...) on the strip: drawn at 10 mm/mV it crossed
every row; it gets a 1-2-5 scale that fits its strip, and every readout divides it back out."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gui.strip.scale import amplitude_scale_text, unit_scale
from gui_fixtures import shown_strip


def test_unit_scale_is_one_for_mv_and_a_fitting_1_2_5_step_otherwise():
    x = np.linspace(60.0, 140.0, 1000)  # an arterial pressure range, mmHg
    assert unit_scale(x, "mV", 3.0) == 1.0
    s = unit_scale(x, "mmHg", 3.0)
    mant = s / 10 ** math.floor(math.log10(s))
    assert round(mant, 9) in (1.0, 2.0, 5.0)
    span = np.percentile(x, 99) - np.percentile(x, 1)
    assert 0.32 * 3.0 < span * s <= 0.8 * 3.0  # fits 80 % of the strip, not less than 2.5x under
    for flat in (np.zeros(100), np.full(100, np.nan)):  # nothing to fit: drawn as is
        assert unit_scale(flat, "mmHg", 3.0) == 1.0
    assert amplitude_scale_text("mV", 1.0) == "10 mm/mV"
    assert amplitude_scale_text("mmHg", 0.02) == "10 mm/50 mmHg"


def test_abp_channel_fits_its_rows_and_reads_in_mmhg(qtbot, wfdb_samples):
    from engine.records import read_record

    rec = read_record(wfdb_samples / "03700181")
    i = rec.lead_index("ABP")
    abp = rec.signal[:, i]
    assert rec.leads[i].units == "mmHg"
    v = shown_strip(qtbot, 900, 600)
    v.set_record(abp, rec.fs, "03700181", units="mmHg")
    m = v.model
    assert m.strip_scale < 1.0
    lo, hi = np.percentile(abp, [1, 99])
    assert (hi - lo) * m.strip_scale <= 0.8 * m.min_strip_mv  # within its row, not across every row
    assert "10 mm/" in m.scale_text() and m.scale_text().endswith("mmHg")
    assert m.scale_text() in v.info.text()
    # the crosshair reads mmHg: 1 mV of view above the baseline is 1/scale mmHg above the offset
    t, val, where = m.view_to_record(2.0, m.baseline(0) + 1.0)
    assert where == "strip" and val == pytest.approx(m.offset_mv + 1.0 / m.strip_scale)
    # the axis labels (continuous mode) are in mmHg at the same heights
    v.set_mode("continuous")
    ticks = m.left_ticks(m.baseline(0) - 1.5, m.baseline(0) + 1.5, 200.0)
    labelled = {round(y - m.baseline(0), 6): lab for y, lab in ticks if lab.endswith("mmHg")}
    assert labelled and all(float(lab.split()[0]) == pytest.approx(m.offset_mv + dy / m.strip_scale, abs=1e-3)
                            for dy, lab in labelled.items())
    v.set_mode("rows")
    # calipers: ΔV in mmHg
    v.set_calipers_visible(True)
    x0, x1, ya, yb = v.calipers.positions()
    assert f"ΔV {abs(yb - ya) / m.strip_scale:.1f} mmHg" in v.caliper_info.text()
    # an ECG lead of the same record keeps 10 mm/mV
    v.set_record(rec.signal[:, 0], rec.fs, "03700181", units="mV")
    assert v.model.strip_scale == 1.0 and v.model.scale_text() == "10 mm/mV"


def test_paper_export_header_states_the_channels_scale(qtbot, wfdb_samples, tmp_path, monkeypatch):
    from engine.records import read_record
    from gui.strip import export as E

    rec = read_record(wfdb_samples / "03700181")
    i = rec.lead_index("ABP")
    v = shown_strip(qtbot, 900, 600)
    v.set_record(rec.signal[: int(rec.fs * 20), i], rec.fs, "03700181", units="mmHg")
    spec = v.paper_spec()
    assert spec.strip_scale == v.model.strip_scale
    texts = []
    real = E.draw_text
    monkeypatch.setattr(E, "draw_text", lambda p, x, y, t, *a, **k: (texts.append(t), real(p, x, y, t, *a, **k)))
    head = []
    real_draw = E.QtGui.QPainter.drawText
    monkeypatch.setattr(E.QtGui.QPainter, "drawText", lambda self, *a: (head.append(a[-1]), real_draw(self, *a))[1])
    v.export_png(str(tmp_path / "abp.png"), dpi=100)
    assert any(v.model.scale_text() in str(t) for t in head + texts), head + texts
