"""Review statistics against hand-computed values and scipy.stats, on constructed studies that
include the paper's task B results (PGD 95 of 100 found, SAP 62 of 100) and task A (246.5 of 250
pairs judged the same on average)."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
from scipy.stats import beta, binomtest

from engine.review.stats import (binomial_summary, cohen_kappa, compute, fleiss_kappa, latest_answers,
                                 proportion)
from engine.review.study import create_study, open_for_review, open_study
from review_data import synthetic_pairs


def _two_sided_exact(k: int, n: int) -> float:
    """Two-sided exact binomial p at p0 = 0.5 by hand (the distribution is symmetric)."""
    tail = max(k, n - k)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(tail, n + 1)) / 2 ** n)


def _clopper_pearson(k: int, n: int) -> tuple[float, float]:
    lo = 0.0 if k == 0 else beta.ppf(0.025, k, n - k + 1)
    hi = 1.0 if k == n else beta.ppf(0.975, k + 1, n - k)
    return lo, hi


# ---------------------------------------------------------------------------------------------
# the building blocks


@pytest.mark.parametrize("k", [62, 95, 65, 59, 50, 0, 100])
def test_binomial_summary_matches_scipy_and_hand(k):
    d = binomial_summary(k, 100)
    res = binomtest(k, 100, 0.5)
    assert d["n"] == 100 and d["correct"] == k and d["accuracy"] == k / 100
    assert d["p_value"] == pytest.approx(res.pvalue, rel=1e-12)
    assert d["p_value"] == pytest.approx(_two_sided_exact(k, 100), rel=1e-9)
    ci = res.proportion_ci(0.95, method="exact")
    assert d["ci95"] == pytest.approx([ci.low, ci.high], rel=1e-12)
    assert d["ci95"] == pytest.approx(list(_clopper_pearson(k, 100)), abs=1e-9)
    assert d["p_value_greater"] == pytest.approx(binomtest(k, 100, 0.5, alternative="greater").pvalue)


def test_paper_detection_numbers():
    sap = binomial_summary(62, 100)
    assert sap["p_value"] == pytest.approx(0.0210, abs=5e-4)  # 62 of 100 is better than chance at 5 %
    assert sap["ci95"] == pytest.approx([0.5175, 0.7152], abs=1e-4)
    assert sap["ci95"][0] > 0.5
    pgd = binomial_summary(95, 100)
    assert pgd["p_value"] < 1e-20
    # 2 · (C(100,0) + … + C(100,5)) / 2^100 = 2 · 79 375 496 / 2^100
    assert pgd["p_value"] == pytest.approx(2 * 79_375_496 / 2 ** 100, rel=1e-9)
    assert pgd["ci95"] == pytest.approx([0.8872, 0.9836], abs=1e-4)
    # the two clinicians' SAP results (65 %, 59 %): one significant, one not
    assert binomial_summary(65, 100)["p_value"] < 0.01 < 0.05 < binomial_summary(59, 100)["p_value"]


def test_proportion_and_empty():
    d = proportion(246, 250)
    assert d["share"] == 246 / 250 and d["ci95"] == pytest.approx(list(_clopper_pearson(246, 250)), abs=1e-9)
    assert proportion(0, 0)["share"] is None
    assert binomial_summary(0, 0)["p_value"] is None


def test_cohen_kappa_hand_computed_2x2():
    # rater 1 yes/no × rater 2 yes/no: 20 both yes, 5 only rater 1 yes, 10 only rater 2 yes, 15 both no.
    # p_o = 35/50 = 0.7; p_e = 0.5·0.6 + 0.5·0.4 = 0.5; κ = (0.7 − 0.5)/(1 − 0.5) = 0.4
    r1 = ["y"] * 20 + ["y"] * 5 + ["n"] * 10 + ["n"] * 15
    r2 = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    d = cohen_kappa(r1, r2)
    assert d["observed_agreement"] == pytest.approx(0.7)
    assert d["expected_agreement"] == pytest.approx(0.5)
    assert d["kappa"] == pytest.approx(0.4)
    assert cohen_kappa(r1, r1)["kappa"] == pytest.approx(1.0)
    assert cohen_kappa(["a"] * 5, ["a"] * 5)["kappa"] is None  # undefined: chance agreement is 1


def test_fleiss_kappa_textbook_example():
    # Fleiss (1971)-style worked example (as in most textbooks): 10 subjects, 14 raters, 5 categories
    counts = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
              [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    d = fleiss_kappa(counts)
    assert d["observed_agreement"] == pytest.approx(0.378, abs=5e-4)
    assert d["expected_agreement"] == pytest.approx(0.213, abs=5e-4)
    assert d["kappa"] == pytest.approx(0.210, abs=5e-4)
    # small hand example: 3 items, 3 raters, 2 categories: P_i = 1, 1/3, 1 → P̄ = 7/9;
    # p = (5/9, 4/9) → P_e = 41/81; κ = (63/81 − 41/81) / (40/81) = 22/40 = 0.55
    d2 = fleiss_kappa([[3, 0], [2, 1], [0, 3]])
    assert d2["observed_agreement"] == pytest.approx(7 / 9)
    assert d2["expected_agreement"] == pytest.approx(41 / 81)
    assert d2["kappa"] == pytest.approx(0.55)
    with pytest.raises(ValueError):
        fleiss_kappa([[2, 0], [1, 2]])


# ---------------------------------------------------------------------------------------------
# constructed studies


def _answer(path, reviewer, decide):
    """Answer every item of `path` as `reviewer`; decide(key_row, i) -> answer, where i counts the
    items seen so far of the same task and method (task C: of the same kind, original/adversarial)."""
    with open_study(path) as st:
        key = {k["item_id"]: k for k in st.answer_key()}
    seen: dict = {}
    with open_for_review(path) as rs:
        s = rs.start_session(reviewer)
        while (it := s.next_item()) is not None:
            k = key[it["item_id"]]
            g = (k["task"], k["shown"]) if k["task"] == "C" else (k["task"], k["method"])
            seen[g] = seen.get(g, 0) + 1
            s.answer(it["item_id"], decide(k, seen[g] - 1), 1 + seen[g] % 5, 2.0 + 0.1 * seen[g])
        s.finish()


def _b_decider(found: dict):
    """Task B: the first found[method] items of each method (in study order) are found."""
    def decide(k, i):
        right = str(k["altered_trace"])
        wrong = "2" if right == "1" else "1"
        return right if i < found[k["method"]] else wrong
    return decide


@pytest.fixture(scope="module")
def study_b(tmp_path_factory):
    path = tmp_path_factory.mktemp("stats") / "b.sqlite"
    create_study(path, synthetic_pairs(100, n=200), "B", seed=1).close()
    _answer(path, "R1", _b_decider({"pgd": 95, "sap": 62}))
    _answer(path, "R2", _b_decider({"pgd": 94, "sap": 59}))
    return path


def test_task_b_per_reviewer_and_pooled(study_b):
    with open_study(study_b) as st:
        stats = compute(st.answers())
    b = stats["task_b"]
    r1 = b["by_reviewer"]["R1"]
    assert (r1["pgd"]["correct"], r1["pgd"]["n"], r1["sap"]["correct"], r1["sap"]["n"]) == (95, 100, 62, 100)
    assert r1["sap"]["p_value"] == pytest.approx(binomtest(62, 100).pvalue)
    assert r1["sap"]["p_value"] == pytest.approx(0.021, abs=5e-4)
    assert r1["pgd"]["p_value"] < 1e-20
    assert r1["all"]["correct"] == 157 and r1["all"]["n"] == 200
    r2 = b["by_reviewer"]["R2"]
    assert r2["sap"]["correct"] == 59 and r2["sap"]["p_value"] == pytest.approx(binomtest(59, 100).pvalue)
    pooled = b["pooled"]
    assert (pooled["sap"]["correct"], pooled["sap"]["n"]) == (121, 200)
    assert pooled["sap"]["p_value"] == pytest.approx(binomtest(121, 200).pvalue)
    ci = binomtest(121, 200).proportion_ci(0.95, method="exact")
    assert pooled["sap"]["ci95"] == pytest.approx([ci.low, ci.high])
    assert (pooled["pgd"]["correct"], pooled["all"]["n"]) == (189, 400)


def test_agreement_cohen_two_reviewers_fleiss_three(study_b, tmp_path):
    with open_study(study_b) as st:
        rows = st.answers()
    ag = compute(rows)["agreement"]["B"]
    assert ag["statistic"] == "cohen" and ag["n_items"] == 200
    # independent computation from the two answer vectors
    a = {r["item_id"]: r["answer"] for r in rows if r["reviewer"] == "R1"}
    b = {r["item_id"]: r["answer"] for r in rows if r["reviewer"] == "R2"}
    ids = sorted(a)
    x = np.array([a[i] == "1" for i in ids])
    y = np.array([b[i] == "1" for i in ids])
    po = np.mean(x == y)
    pe = x.mean() * y.mean() + (1 - x.mean()) * (1 - y.mean())
    assert ag["kappa"] == pytest.approx((po - pe) / (1 - pe))
    # a third reviewer on a copy, merged: Fleiss' kappa over the three
    copy = tmp_path / "b3.sqlite"
    shutil.copy(study_b, copy)
    _answer(copy, "R3", _b_decider({"pgd": 90, "sap": 50}))
    with open_study(copy) as st:
        rows3 = st.answers()
    ag3 = compute(rows3)["agreement"]["B"]
    assert ag3["statistic"] == "fleiss" and len(ag3["pairwise_cohen"]) == 3
    per = {}
    for r in rows3:
        per.setdefault(r["item_id"], []).append(r["answer"])
    counts = np.array([[v.count("1"), v.count("2")] for v in per.values()], float)
    n = 3
    P_i = (np.sum(counts ** 2, axis=1) - n) / (n * (n - 1))
    p_j = counts.sum(0) / counts.sum()
    expected = (P_i.mean() - np.sum(p_j ** 2)) / (1 - np.sum(p_j ** 2))
    assert ag3["kappa"] == pytest.approx(expected)


def test_task_a_paper_share_same(tmp_path):
    path = tmp_path / "a.sqlite"
    create_study(path, synthetic_pairs(250, methods=("sap",), n=100), "A", seed=4).close()
    _answer(path, "Physician", lambda k, i: "same" if i < 247 else "different")
    _answer(path, "Electrophysiologist", lambda k, i: "same" if i < 246 else "different")
    with open_study(path) as st:
        a = compute(st.answers())["task_a"]
    assert a["by_reviewer"]["Physician"]["sap"]["same"] == 247
    assert a["by_reviewer"]["Electrophysiologist"]["all"]["share_same"] == pytest.approx(246 / 250)
    pooled = a["pooled"]["sap"]
    assert (pooled["same"], pooled["n"]) == (493, 500)
    assert pooled["same"] / 2 == 246.5  # the paper's "246.5 of 250 on average"
    assert 1 - pooled["share_same"] == pytest.approx(0.014)  # "a human relabels only 1.4 %"
    assert pooled["ci95"] == pytest.approx(list(_clopper_pearson(493, 500)), abs=1e-9)


def test_task_c_accuracy_and_following_the_original_class(tmp_path):
    path = tmp_path / "c.sqlite"
    create_study(path, synthetic_pairs(20, n=100), "C", seed=9, n_per_task=40).close()

    def decide(k, i):
        if k["shown"] == "original":  # the first 15 originals right, the rest wrong
            return k["reference_label"] if i < 15 else ("N" if k["reference_label"] != "N" else "A")
        return k["reference_label"] if i < 18 else k["adv_pred"]  # 18 follow the original class

    _answer(path, "R", decide)
    with open_study(path) as st:
        c = compute(st.answers())["task_c"]["by_reviewer"]["R"]["all"]
    assert (c["original"]["correct"], c["original"]["n"]) == (15, 20)
    assert (c["adversarial"]["correct"], c["adversarial"]["n"]) == (18, 20)
    assert c["adversarial_follows_original"]["share"] == pytest.approx(0.9)
    assert c["adversarial_follows_model"]["share"] == pytest.approx(0.1)
    assert c["all"]["accuracy"] == pytest.approx(33 / 40)


def test_latest_answer_counts_per_reviewer_and_item():
    rows = [{"reviewer": "A", "item_id": "i", "answered_at": "2026-01-01T00:00:00", "position": 0, "x": 1},
            {"reviewer": " a ", "item_id": "i", "answered_at": "2026-01-02T00:00:00", "position": 0, "x": 2},
            {"reviewer": "B", "item_id": "i", "answered_at": "2026-01-01T00:00:00", "position": 0, "x": 3}]
    got = latest_answers(rows)
    assert sorted(r["x"] for r in got) == [2, 3]


def test_timing_and_confidence(study_b):
    with open_study(study_b) as st:
        t = compute(st.answers())["timing"]
    assert t["R1"]["B"]["n"] == 200 and t["R1"]["B"]["median_s"] > 2.0
    assert 1 <= t["R1"]["B"]["mean_confidence"] <= 5
