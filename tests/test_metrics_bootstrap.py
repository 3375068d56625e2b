"""engine.metrics: bootstrap interval of mean F1 N/A/O and the paired model comparison."""

import numpy as np
import pytest

from engine.metrics import absent_classes, f1_interval, f1_text, paired_f1_difference, summarize

C = ["N", "A", "O", "~"]


def _data(n=600, acc=0.8, seed=1):
    rng = np.random.default_rng(seed)
    t = [C[i] for i in rng.choice(4, n, p=[0.6, 0.1, 0.25, 0.05])]
    p = [c if rng.random() < acc else C[rng.integers(0, 4)] for c in t]
    return t, p


def test_interval_brackets_the_figure_and_narrows_with_more_records():
    t, p = _data(400)
    lo, hi = f1_interval(t, p)
    f = summarize(t, p)["f1_mean_nao"]
    assert lo < f < hi
    t4, p4 = t * 4, p * 4  # the same errors, four times as many records
    lo4, hi4 = f1_interval(t4, p4)
    assert (hi4 - lo4) < 0.7 * (hi - lo)
    assert f1_interval(t, p) == [lo, hi]  # seeded


def test_interval_matches_a_plain_bootstrap_loop():
    t, p = _data(300, seed=4)
    rng = np.random.default_rng(0)
    vals = []
    for _ in range(2000):
        i = rng.integers(0, len(t), len(t))
        vals.append(summarize([t[k] for k in i], [p[k] for k in i])["f1_mean_nao"])
    assert f1_interval(t, p) == pytest.approx([np.percentile(vals, 2.5), np.percentile(vals, 97.5)], abs=1e-12)


def test_paired_difference_sign_interval_and_identity():
    t, worse = _data(700, acc=0.7, seed=2)
    rng = np.random.default_rng(9)
    better = [tt if rng.random() < 0.5 else pp for tt, pp in zip(t, worse)]  # fixes about half the errors
    res = paired_f1_difference(t, worse, better)
    assert res["difference"] == pytest.approx(summarize(t, better)["f1_mean_nao"] - summarize(t, worse)["f1_mean_nao"])
    lo, hi = res["ci95"]
    assert 0 < lo < res["difference"] < hi and res["share_not_better"] == 0.0
    flipped = paired_f1_difference(t, better, worse)
    assert flipped["difference"] == pytest.approx(-res["difference"]) and flipped["share_not_better"] == 1.0
    same = paired_f1_difference(t, worse, worse)
    assert same["difference"] == 0.0 and same["ci95"] == [0.0, 0.0]


def test_large_sets_are_resampled_in_chunks_with_the_same_result():
    from engine import metrics

    t, p = _data(3000, seed=5)
    whole = f1_interval(t, p, draws=300)
    old = metrics._resamples
    try:
        metrics._resamples = lambda n, draws, seed, cells=2_000_000: old(n, draws, seed, cells=n * 7)
        chunked = f1_interval(t, p, draws=300)
    finally:
        metrics._resamples = old
    assert chunked == pytest.approx(whole, abs=1e-12)  # the generator's stream does not depend on the cut


def test_a_class_missing_from_a_resample_does_not_count_as_f1_zero():
    """12 perfectly classified records: every resample is classified perfectly, so the interval is
    1-1; a resample without any A record has no F1 for A (not 0, which gave 0.667-1.000)."""
    t = list("NNNNAAAOOO~~")
    assert f1_interval(t, t) == [1.0, 1.0]


def test_a_class_absent_from_the_whole_set_counts_as_summarize_counts_it():
    """Only N records, all right: summarize() gives mean F1 N/A/O (1 + 0 + 0) / 3; the interval
    uses the same definition, so it brackets the figure it is printed next to."""
    t = ["N"] * 20
    f = summarize(t, t)["f1_mean_nao"]
    assert f == pytest.approx(1 / 3)
    assert f1_interval(t, t) == pytest.approx([f, f])
    res = paired_f1_difference(t, ["N"] * 19 + ["O"], t)
    assert res["difference"] == pytest.approx(f - summarize(t, ["N"] * 19 + ["O"])["f1_mean_nao"])


def test_a_class_absent_from_records_and_predictions_is_shown_as_such():
    """A perfect model on three N/A records scored mean F1 N/A/O 0.667 and '~ 0.000' with no word
    why: the text now marks the absent classes and says the mean counts them as 0."""
    t = ["N", "A", "N"]
    s = summarize(t, t)
    assert absent_classes(s["confusion"]) == ["O", "~"]
    text = f1_text(s["f1"], s["confusion"])
    assert text.startswith("N 1.000 A 1.000 O — ~ —")
    assert "O, ~: none in these records or predictions; counted as F1 0 in the mean F1 N/A/O" in text
    only_noise_absent = summarize(list("NAO"), list("NAO"))
    assert f1_text(only_noise_absent["f1"], only_noise_absent["confusion"]) == \
        "N 1.000 A 1.000 O 1.000 ~ — (~: none in these records or predictions)"
    # predicted but never true is not absent: its F1 is a real 0
    s = summarize(["N", "N"], ["N", "O"])
    assert absent_classes(s["confusion"]) == ["A", "~"] and "O 0.000" in f1_text(s["f1"], s["confusion"])
