"""ganbench-compare's findings.md and significance.csv: exact p-values, Holm, effect sizes, the
caveats that go with the group sizes; every number computed here by enumeration or by hand."""

from __future__ import annotations

import csv
import math
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

from ganbench.compare import compare
from test_compare import write_run
from test_compare_outputs import write_seed_runs

# (loss, reverse_kl ↓ over 5 seeds, modes_captured ↑ over 5 seeds: ties within and across groups)
GROUPS = {
    "ns": ([0.10, 0.20, 0.30, 0.40, 0.45], [8, 8, 8, 7, 8]),
    "ls": ([0.15, 0.50, 0.60, 0.70, 0.80], [8, 7, 7, 6, 8]),
    "w": ([1.0, 1.1, 1.2, 1.3, 1.4], [2, 3, 2, 3, 2]),
}


def write_groups(root: Path, groups: dict = GROUPS) -> Path:
    for loss, (kl, modes) in groups.items():
        for seed, (k, m) in enumerate(zip(kl, modes)):
            write_run(root, f"{loss}{seed}", loss=loss, seed=seed,
                      metrics={"reverse_kl": k, "modes_captured": m, "high_quality": 0.5})  # fmt: skip
    return root


def exact_p(a: list[float], b: list[float]) -> float:
    """Two-sided permutation p of U by full enumeration: the share of the C(n, n_a) splits of the
    pooled values whose U is at least as far from n_a n_b / 2 as the observed one (ties ½)."""
    pooled = list(a) + list(b)

    def u(xs, ys):
        return sum((x > y) + 0.5 * (x == y) for x in xs for y in ys)

    centre = len(a) * len(b) / 2
    observed = abs(u(a, b) - centre)
    splits = list(combinations(range(len(pooled)), len(a)))
    extreme = 0
    for idx in splits:
        xs = [pooled[i] for i in idx]
        ys = [pooled[i] for i in range(len(pooled)) if i not in idx]
        extreme += abs(u(xs, ys) - centre) >= observed - 1e-9
    return extreme / len(splits)


def holm_by_hand(ps: list[float]) -> list[float]:
    order = sorted(range(len(ps)), key=lambda i: ps[i])
    out, running = [0.0] * len(ps), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(ps) - rank) * ps[i]))
        out[i] = running
    return out


def prob_better(a, b, direction) -> float:
    """P(a run of a beats a run of b), ties ½, counted pair by pair."""
    wins = sum((x > y if direction == "max" else x < y) + 0.5 * (x == y) for x in a for y in b)
    return wins / (len(a) * len(b))


def test_significance_csv_has_exact_p_holm_and_effect_sizes(tmp_path):
    compare([write_groups(tmp_path / "runs")], by=["loss"], out=tmp_path / "out", plots=False)
    rows = list(csv.DictReader(open(tmp_path / "out" / "significance.csv")))
    for metric, which, direction in (("reverse_kl", 0, "min"), ("modes_captured", 1, "max")):
        mine = [r for r in rows if r["metric"] == metric]
        assert [(r["group_a"], r["group_b"]) for r in mine] == [("ls", "ns"), ("ls", "w"), ("ns", "w")]
        ps = [exact_p(GROUPS[r["group_a"]][which], GROUPS[r["group_b"]][which]) for r in mine]
        assert [float(r["p"]) for r in mine] == pytest.approx(ps, rel=1e-9)
        assert [float(r["p_holm"]) for r in mine] == pytest.approx(holm_by_hand(ps), rel=1e-9)
        for r in mine:
            a, b = GROUPS[r["group_a"]][which], GROUPS[r["group_b"]][which]
            assert float(r["prob_a_better"]) == pytest.approx(prob_better(a, b, direction))
            assert float(r["median_difference"]) == pytest.approx(float(np.median([x - y for x in a for y in b])))
            assert float(r["prob_a_better_ci_low"]) <= float(r["prob_a_better"]) <= float(r["prob_a_better_ci_high"])
    # modes_captured ties across groups: ns against w is still complete separation, 2 / C(10, 5)
    ns_w = next(r for r in rows if r["metric"] == "modes_captured" and r["group_a"] == "ns" and r["group_b"] == "w")
    assert float(ns_w["p"]) == pytest.approx(2 / 252)
    # identical values everywhere: no evidence of a difference
    assert {float(r["p"]) for r in rows if r["metric"] == "high_quality"} == {1.0}


def _table(md: str, dataset: str, metric: str) -> list[list[str]]:
    """The rows of findings.md's table for one dataset and metric, as lists of cells."""
    section = md.split(f"## {dataset}\n", 1)[1].split(f"### {metric} ", 1)[1].split("\n\n###", 1)[0]
    lines = [ln for ln in section.splitlines() if ln.startswith("| ") and not ln.startswith("| first")]
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in lines]


def test_findings_lists_every_pair_better_first_significant_first(tmp_path):
    compare([write_groups(tmp_path / "runs")], by=["loss"], out=tmp_path / "out", plots=False)
    md = (tmp_path / "out" / "findings.md").read_text()
    rows = _table(md, "ring", "reverse_kl")
    # lower is better: ns and ls beat w in every pair (2 / 252 each, × 3 and × 2 by Holm → 0.024 for
    # both, the running maximum); ns against ls is not significant and comes last, ns first
    assert [(r[0], r[1], r[5]) for r in rows] == [("ls", "w", "yes"), ("ns", "w", "yes"), ("ns", "ls", "no")]
    assert rows[0][3] == f"{2 / 252:.2g}" and rows[0][4] == f"{3 * 2 / 252:.2g}"
    p = exact_p(GROUPS["ns"][0], GROUPS["ls"][0])
    assert rows[2][3] == f"{p:.2g}"
    a = prob_better(GROUPS["ns"][0], GROUPS["ls"][0], "min")
    assert a > 0.5 and rows[2][6].startswith(f"{a:.3g} [")
    # complete separation: every resample gives P = 1
    assert rows[1][6] == "1 [1, 1]"
    shift = float(np.median([x - y for x in GROUPS["ns"][0] for y in GROUPS["w"][0]]))
    assert rows[1][7].startswith(f"{shift:.3g}".replace("-", "−") + " [")
    # higher is better for modes_captured: the pair is turned round so that the better group is first
    modes = _table(md, "ring", "modes_captured")
    assert ("ns", "ls") in [(r[0], r[1]) for r in modes]
    # the significant pairs are listed up front, each the way round its metric reads
    top = md.split("## Pairs that differ significantly", 1)[1].split("\n## ", 1)[0]
    assert "- ring, reverse_kl ↓: ls better than w (5 against 5 runs; p = 0.0079, Holm p = 0.024;" in top
    assert "ns better than ls" not in top
    # the same runs give the same bytes: no path, no date
    again = compare([tmp_path / "runs"], by=["loss"], out=tmp_path / "again", plots=False)
    assert (tmp_path / "again" / "findings.md").read_text() == md and str(tmp_path) not in md
    assert again.significance


def test_the_caveat_agrees_with_the_exact_p_values(tmp_path):
    """2 against 2 cannot give p below 1/3 (2 of the C(4, 2) = 6 splits are as extreme as complete
    separation), ties or not; the caveat says so and significance.csv agrees."""
    two = {"a": ([0.1, 0.1], [8, 8]), "b": ([0.9, 0.9], [1, 1])}  # complete separation, tied within groups
    result = compare([write_groups(tmp_path / "runs", two)], by=["loss"], out=tmp_path / "out", plots=False)
    rows = list(csv.DictReader(open(tmp_path / "out" / "significance.csv")))
    assert exact_p([0.1, 0.1], [0.9, 0.9]) == pytest.approx(1 / 3)
    assert [float(r["p"]) for r in rows if r["metric"] != "high_quality"] == pytest.approx([1 / 3, 1 / 3])
    caveats = [c for c in result.caveats if "group a " in c]
    assert caveats == ["ring: group a has 2 completed run(s), fewer than 5: the exact test cannot give it a p below "
                       "0.33 against any other group, so 'not significant' says little"]  # fmt: skip
    bound = float(caveats[0].split("p below ")[1].split(" ")[0])
    assert all(float(r["p"]) >= bound - 0.005 for r in rows)


@pytest.mark.parametrize("n_a, n_b", [(1, 1), (1, 2), (2, 2), (1, 4), (2, 3)])
def test_the_smallest_exact_p_is_the_smallest_over_every_tie_pattern(n_a, n_b):
    """Over every assignment of tied values (every weak ordering of n_a + n_b runs, values 0..N−1
    with repeats), the smallest exact p equals smallest_exact_p: 2 / C for equal sizes, 1 / C else."""
    from itertools import product

    from ganbench.compare.stats import smallest_exact_p

    n = n_a + n_b
    smallest = min(exact_p(list(v[:n_a]), list(v[n_a:])) for v in product(range(n), repeat=n))
    assert smallest == pytest.approx(smallest_exact_p(n_a, n_b))
    assert smallest_exact_p(n_a, n_b) == pytest.approx((2 if n_a == n_b else 1) / math.comb(n, n_a))


def test_a_design_that_cannot_reach_significance_is_said(tmp_path):
    """5 groups of 5: Holm over 10 pairs, 10 × 2 / C(10, 5) = 0.079, the number a study reported."""
    groups = {f"g{i}": ([i + 0.1 * s for s in range(5)], [8] * 5) for i in range(5)}
    result = compare([write_groups(tmp_path / "runs", groups)], by=["loss"], out=tmp_path / "out", plots=False)
    floor = 10 * 2 / math.comb(10, 5)
    assert f"{floor:.2g}" == "0.079"
    assert result.caveats == [
        "ring: 5 groups of 5 completed runs: the smallest Holm-adjusted p the exact test can reach over the 10 pairs "
        "is 0.079, not below 0.05: no difference can be significant, whatever the values; more runs per group can"
    ]
    # every pair is completely separated, and still no Holm p is below the floor
    rows = list(csv.DictReader(open(tmp_path / "out" / "significance.csv")))
    assert min(float(r["p_holm"]) for r in rows if r["metric"] == "reverse_kl") == pytest.approx(floor)
    md = (tmp_path / "out" / "findings.md").read_text()
    assert "The smallest Holm p these group sizes allow: 0.079 (no pair can differ significantly)." in md
    # three groups of 5 can: 3 × 2 / 252 = 0.024
    three = compare([tmp_path / "runs" / f"g{i}{s}" for i in range(3) for s in range(5)], by=["loss"],
                    out=tmp_path / "three", plots=False)  # fmt: skip
    assert not [c for c in three.caveats if "smallest Holm" in c]


def test_a_mirrored_zero_bound_reads_zero(tmp_path):
    """ns covers 8 modes in 4 of 5 runs, ls in 1 of 5. The 25 differences ns − ls are −1 once, 0
    eight times and +1 sixteen times; the 95 % interval of the shift at 5 against 5 is
    [d₍₃₎, d₍₂₃₎] (P(U ≤ 2) = 0.016 ≤ 0.025 < P(U ≤ 3)) = [0, 1] around the median d₍₁₃₎ = 1. The
    test computes ls − ns and turns the pair round: its bound −0.0 must read 0, not −0."""
    groups = {"ls": ([0.5] * 5, [7, 7, 7, 8, 7]), "ns": ([0.5] * 5, [8, 8, 8, 8, 7])}
    compare([write_groups(tmp_path / "runs", groups)], by=["loss"], out=tmp_path / "out", plots=False)
    md = (tmp_path / "out" / "findings.md").read_text()
    (row,) = _table(md, "ring", "modes_captured")
    assert (row[0], row[1], row[7]) == ("ns", "ls", "1 [0, 1]")
    assert "−0" not in md


def test_groups_of_one_run_each_are_not_tested(tmp_path):
    """One group per seed: one run against one gives p = 1 whatever the values (both of the 2
    splits are as extreme), so there is no test, no findings.md or significance.csv, and a caveat
    says why. Nor do the files of an earlier comparison into the same folder stay (budget.csv too:
    the seed runs of one trial have no budget curve)."""
    assert exact_p([0.1], [0.9]) == 1
    out = tmp_path / "out"
    compare([write_groups(tmp_path / "runs")], by=["loss"], out=out, plots=False)  # groups of 5 runs: tested
    assert {"findings.md", "significance.csv", "budget.csv"} <= {p.name for p in out.iterdir()}

    for loss, kl in GROUPS.items():
        write_seed_runs(tmp_path / "study", loss, kl[0])
    result = compare([tmp_path / "study"], by=["loss", "seed"], out=out, plots=False)
    assert result.significance == [] and result.budget == []
    assert result.caveats == [
        "ring: every group has one completed run in high_quality, modes_captured, reverse_kl: no test between groups "
        "(one run against one always gives p = 1); the table lists each run's values"
    ]
    assert sorted(p.name for p in out.iterdir()) == ["comparison.csv", "comparison.md"]
    md = (out / "comparison.md").read_text()
    assert "## Significance" not in md and f"- caveat: {result.caveats[0]}" in md
    assert len([line for line in md.splitlines() if line.split(" | ")[1:2] in (["100"], ["104"])]) == 6  # 3 losses
