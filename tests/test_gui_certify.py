"""Attack ▸ Certify in the window: a tiny randomised-smoothing run on the current record shows the
smoothed prediction, radius and abstention, and the strip draws the certified L∞ tube."""

from __future__ import annotations

import numpy as np
import pytest
from gui_fixtures import isolated, make_window, model_path, wait_idle  # noqa: F401


def test_certify_current_record_draws_the_tube(qtbot, isolated, model_path):  # noqa: F811
    win = make_window(qtbot, model_path, isolated["settings"])
    c = win.certifier
    assert any(c.action in a.menu().actions() for a in win.menuBar().actions()
               if a.menu() is not None and a.text().replace("&", "") == "Attack")
    c.n0, c.n, c.batch_size = 4, 32, 16  # tiny
    c.run(sigma_mv=1e-4)  # tiny noise: the smoothed class is the model's own
    qtbot.waitUntil(lambda: c.last is not None, timeout=120000)
    wait_idle(qtbot, win)
    cert = c.last
    assert sum(cert.counts.values()) == 32
    assert not cert.abstained and cert.pred == win.pred[0]
    text = c.box.text()
    assert f"smoothed prediction {cert.pred}" in text and "certified L2 radius" in text and "abstention: no" in text
    assert f"estimated abstention rate at this n: {100 * cert.abstention_rate:.1f}%" in text
    assert win.strip.has_layer("tube") and win.strip.layer_drawn("tube")
    lo, hi = win.strip.model.src["tube_lo"].data, win.strip.model.src["tube_hi"].data
    x = np.asarray(win.rec.x_mv, dtype=np.float32)
    assert np.allclose(hi - x, cert.linf_mv, atol=1e-6) and np.allclose(x - lo, cert.linf_mv, atol=1e-6)
    assert win.settings.get("certify/sigma") == pytest.approx(1e-4)
    # another record: the tube goes
    with qtbot.waitSignal(win.classified, timeout=120000):
        win.open_record(str(win.samples / "A00009"))
    assert not win.strip.has_layer("tube") and c.last is None


def test_certify_needs_a_record_and_a_valid_sigma(qtbot, isolated, model_path):  # noqa: F811
    win = make_window(qtbot, model_path, isolated["settings"], open_samples=False)
    win.certifier.run(sigma_mv=0.1)
    assert isolated["errors"] and "record" in isolated["errors"][-1][0].lower()
