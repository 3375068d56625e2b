"""The band's progress names its procedure (noise, concatenation, uniform) in the status bar text."""

from __future__ import annotations

from gui_fixtures import fast_attack, isolated, make_window, model_path, wait_idle  # noqa: F401


def test_band_progress_per_procedure(qtbot, isolated, model_path):  # noqa: F811
    win = make_window(qtbot, model_path, isolated["settings"])
    wait_idle(qtbot, win, 120)
    fast_attack(win)
    with qtbot.waitSignal(win.attackFinished, timeout=120000) as sig:
        win.run_attack()
    assert sig.args[0].success
    msgs: list[str] = []
    win.host.jobProgress.connect(lambda _id, _d, _t, msg: msgs.append(msg))
    shown: list[str] = []
    win.band_panel.trials.setValue(16)
    win.band_options = {"max_pairs": 8, "max_splices_per_pair": 2, "uniform_trials": 16, "batch_size": 4}
    win.host.jobProgress.connect(lambda *_a: shown.append(win.status_msg.text()))  # after the status bar's slot
    with qtbot.waitSignal(win.bandFinished, timeout=120000):
        win.run_band()
    stages = [m for m in msgs if m.startswith("band ")]
    order = []
    for m in stages:
        name = "noise" if "noise" in m else "concatenation" if "concatenation" in m else "uniform" if "uniform" in m \
            else None
        if name and (not order or order[-1] != name):
            order.append(name)
    assert order == ["noise", "concatenation", "uniform"], stages
    assert any("1/3 noise" in m for m in stages) and any("3/3 uniform" in m for m in stages)
    assert any("batch" in m for m in stages)
    assert any("2/3 concatenation" in t for t in shown)  # what the user reads in the status bar


def test_band_fractions_show_their_interval_where_the_draws_are_independent():
    """Noise trials and uniform draws are independent draws: k / n with a 95 % interval; the
    concatenation's splices are an enumeration, shown as k / n only."""
    from engine.intervals import clopper_pearson
    from gui.panels.band_panel import BandPanel

    lo, hi = clopper_pearson(37, 40)
    noise = {"trials": 40, "adversarial": 37, "fraction": 37 / 40, "ci95": [lo, hi]}
    assert BandPanel._frac(noise, "trials") == f"37 / 40  (92.5 %)\n95 % CI {100 * lo:.1f}–{100 * hi:.1f} %"
    assert BandPanel._frac(noise, "trials", compact=True) == f"37/40 (92 %, CI {100 * lo:.0f}–{100 * hi:.0f})"
    concat = {"splices": 8, "adversarial": 8, "fraction": 1.0}
    assert BandPanel._frac(concat, "splices") == "8 / 8  (100.0 %)"
    assert BandPanel._frac({"trials": 0, "adversarial": 0, "fraction": None, "ci95": None}, "trials") == "—"
