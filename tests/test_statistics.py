"""ganbench.statistics against enumeration, hand computation and scipy."""

from __future__ import annotations

import math
import statistics as pystats
from itertools import combinations

import numpy as np
import pytest
from scipy import stats as sps

from ganbench.statistics import (
    best_of_k,
    bootstrap_ci,
    holm,
    min_two_sided_p,
    pairwise_mann_whitney,
)


def enumerate_best_of_k(pool, k, direction):
    """Every k-subset of the pool: the best finished value of each (None: failed trial)."""
    bests, all_failed = [], 0
    for subset in combinations(range(len(pool)), k):
        vals = [pool[i] for i in subset if pool[i] is not None]
        if not vals:
            all_failed += 1
            continue
        bests.append(max(vals) if direction == "max" else min(vals))
    return bests, all_failed, math.comb(len(pool), k)


def empirical_quantile(values, q):
    """Smallest v in the sorted list whose empirical CDF reaches q (worst-to-best order given)."""
    for i, v in enumerate(values, start=1):
        if i / len(values) >= q - 1e-12:
            return v
    return values[-1]


@pytest.mark.parametrize("direction", ["max", "min"])
def test_best_of_k_equals_the_mean_over_all_subsets(direction):
    pool = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0]  # with a tie
    curve = best_of_k(pool, direction)
    assert [c.k for c in curve] == list(range(1, 8))
    for c in curve:
        bests, _, _ = enumerate_best_of_k(pool, c.k, direction)
        assert c.mean == pytest.approx(pystats.fmean(bests), abs=1e-12)
        ordered = sorted(bests, reverse=direction == "min")  # worst to best
        assert c.q_low == empirical_quantile(ordered, 0.25)
        assert c.q_high == empirical_quantile(ordered, 0.75)
        assert c.p_all_failed == 0.0
    # by hand: k = 1 is the pool mean; k = N is the best value
    assert curve[0].mean == pytest.approx(25 / 7)
    assert curve[-1].mean == (9.0 if direction == "max" else 1.0)


def test_best_of_k_by_hand_for_three_trials():
    # pool {1, 2, 4}, maximising. k = 2: subsets {1,2}→2, {1,4}→4, {2,4}→4: mean 10/3
    curve = best_of_k([4, 1, 2], "max")
    assert [c.mean for c in curve] == pytest.approx([7 / 3, 10 / 3, 4.0])
    # the best of 2 is 2 with probability 1/3 and 4 with 2/3: quartiles 2 and 4
    assert (curve[1].q_low, curve[1].q_high) == (2.0, 4.0)


def test_failed_trials_rank_worst_and_condition_the_mean():
    pool = [0.5, None, 0.9, float("nan"), 0.1]
    for c in best_of_k(pool, "max"):
        bests, all_failed, total = enumerate_best_of_k([None if v != v else v for v in pool], c.k, "max")
        assert c.p_all_failed == pytest.approx(all_failed / total)
        assert c.mean == pytest.approx(pystats.fmean(bests))
    # k = 1: one in five draws is each failure → P(all failed) = 2/5; mean of the finished 0.5
    first = best_of_k(pool, "max")[0]
    assert first.p_all_failed == pytest.approx(0.4) and first.mean == pytest.approx(0.5)
    all_failed = best_of_k([None, None], "min")
    assert all(math.isnan(c.mean) and c.p_all_failed == 1.0 for c in all_failed)


def test_best_of_k_rejects_an_unknown_direction():
    with pytest.raises(ValueError, match="direction"):
        best_of_k([1.0], "up")


def test_bootstrap_interval_covers_the_known_mean():
    """200 seeded replicates of 20 values from N(1, 2²): the 95 % BCa interval must contain 1 in
    at least 90 % of them (measured: 93 % over 2,000)."""
    rng = np.random.default_rng(2024)
    hits = 0
    for r in range(200):
        x = rng.normal(1.0, 2.0, size=20)
        low, high = bootstrap_ci(x, seed=r, n_resamples=2000)
        assert low < x.mean() < high
        hits += low <= 1.0 <= high
    assert hits / 200 >= 0.90
    assert hits / 200 < 1.0  # an interval that covers always is too wide to be a 95 % one


def test_bootstrap_interval_is_seeded_and_handles_degenerate_input():
    x = list(np.random.default_rng(0).normal(size=12))
    assert bootstrap_ci(x, seed=1) == bootstrap_ci(x, seed=1)
    assert bootstrap_ci(x, seed=1, n_resamples=500) != bootstrap_ci(x, seed=2, n_resamples=500)
    assert bootstrap_ci([2.0, 2.0, 2.0]) == (2.0, 2.0)
    assert all(math.isnan(v) for v in bootstrap_ci([1.0]))


def test_holm_against_a_hand_computation():
    # sorted p: 0.01, 0.02, 0.03, 0.04 (m = 4) → 4·0.01 = 0.04, 3·0.02 = 0.06, 2·0.03 = 0.06, 1·0.04
    # → running max 0.04, 0.06, 0.06, 0.06
    assert holm([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    # capped at 1 and monotone
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    assert holm([0.001]) == pytest.approx([0.001])


def exact_two_sided_p(a, b):
    """The exact permutation p-value of U (no ties), by enumerating all relabellings."""
    pooled = list(a) + list(b)
    n_a = len(a)

    def u_of(xs):
        return sum((x > y) + 0.5 * (x == y) for x in xs for y in pooled if y not in xs)

    mean_u = n_a * len(b) / 2
    observed = abs(u_of(a) - mean_u)
    count = total = 0
    for idx in combinations(range(len(pooled)), n_a):
        total += 1
        count += abs(u_of([pooled[i] for i in idx]) - mean_u) >= observed - 1e-12
    return count / total


def test_mann_whitney_p_values_match_scipy_and_exact_enumeration():
    groups = {"a": [0.9, 0.8, 0.95, 0.85, 0.99], "b": [0.2, 0.3, 0.81, 0.4, 0.1], "c": [0.5, 0.6, 0.55, 0.7]}
    tests = pairwise_mann_whitney(groups, "max")
    assert [(t.a, t.b) for t in tests] == [("a", "b"), ("a", "c"), ("b", "c")]
    for t in tests:
        ref = sps.mannwhitneyu(groups[t.a], groups[t.b], alternative="two-sided")
        assert t.p == pytest.approx(ref.pvalue) and t.u == pytest.approx(ref.statistic)
        assert t.p == pytest.approx(exact_two_sided_p(groups[t.a], groups[t.b]))
    assert [t.p_holm for t in tests] == pytest.approx(holm([t.p for t in tests]))
    # a beats b (24 of 25 pairs): p = 4/252 exact; Holm × 3 stays below 0.05
    ab = tests[0]
    assert ab.u == 24 and ab.p == pytest.approx(4 / 252) and ab.better == "a"
    # minimising flips who is better
    assert pairwise_mann_whitney(groups, "min")[0].better == "b"


def test_mann_whitney_ties_and_identical_groups():
    same = pairwise_mann_whitney({"x": [8, 8, 8], "y": [8, 8, 8]}, "max")[0]
    assert same.p == 1.0 and same.better is None
    tied = pairwise_mann_whitney({"x": [8, 8, 7, 8, 8, 8], "y": [5, 6, 7, 5, 6, 4]}, "max")[0]
    ref = sps.mannwhitneyu([8, 8, 7, 8, 8, 8], [5, 6, 7, 5, 6, 4], alternative="two-sided")
    assert tied.p == pytest.approx(ref.pvalue) and tied.better == "x"


def test_small_groups_cannot_reach_significance():
    # three runs against three: complete separation gives p = 2/20 = 0.1
    assert min_two_sided_p(3, 3) == pytest.approx(0.1)
    t = pairwise_mann_whitney({"x": [1, 2, 3], "y": [4, 5, 6]}, "max")[0]
    assert t.p == pytest.approx(0.1) and t.better is None
    assert min_two_sided_p(5, 5) == pytest.approx(2 / 252)


def test_exact_enumeration_helper_is_itself_right():
    # 2 vs 2 complete separation: 2 of C(4,2) = 6 labellings are as extreme
    assert exact_two_sided_p([3, 4], [1, 2]) == pytest.approx(2 / 6)
