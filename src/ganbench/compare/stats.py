"""The statistics of each group, through :mod:`ganbench.statistics`.

Per group: counts, failure rate, and per final metric of its completed runs the mean ± sample
standard deviation, the median with its distribution-free interval (at least 95 % coverage from 6
runs on, whatever the distribution; with fewer, [min, max] and its lower coverage) and the best
run. Per
dataset (the unit of every test and budget curve: runs on different data are never compared):
Holm-corrected pairwise Mann–Whitney tests and the expected best of k runs.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, TypeVar

from ganbench.compare.groups import config_notes, metric_direction, unfair_mixes
from ganbench.compare.hyperparameters import group_setting
from ganbench.compare.records import Run
from ganbench.statistics import (
    MIN_RUNS_FOR_TESTS,
    BestOfK,
    PairTest,
    best_of_k,
    median_ci,
    pairwise_mann_whitney,
)
from ganbench.summary import run_wall_seconds

ALPHA = 0.05
# Values larger than this are scaled by a power of two (exact) before their sums and squares are
# taken, which would otherwise overflow: two runs at 1e308 have the mean 1e308.
LARGE = 2.0**500
T = TypeVar("T")


def _scaled(fn: Callable[[list[float]], T], values: Sequence[float], rescale: Callable[[T, int], T]) -> T:
    """``fn(values)``, computed on ``values / 2^e`` and scaled back by ``rescale(result, e)`` when
    the values are large."""
    values = [float(v) for v in values]
    peak = max((abs(v) for v in values if math.isfinite(v)), default=0.0)
    if peak <= LARGE:
        return fn(values)
    exponent = math.frexp(peak)[1]
    return rescale(fn([math.ldexp(v, -exponent) for v in values]), exponent)


def mean(values: Sequence[float]) -> float:
    """The mean of finite values, without overflow for values near the largest float."""
    return _scaled(statistics.fmean, values, math.ldexp)


def stdev(values: Sequence[float]) -> float:
    """The sample standard deviation (ddof = 1), without overflow; NaN for a single value."""
    if len(values) < 2:
        return math.nan
    return _scaled(statistics.stdev, values, math.ldexp)


def run_cpu_seconds(summary: dict) -> float | None:
    """The CPU seconds of a run's training process in all (``cpu_seconds`` plus
    ``cpu_seconds_before``); None when a stretch of it has none (a record from before they were kept)."""
    resumed = summary.get("resumed_from") is not None
    if summary.get("cpu_seconds") is None or (resumed and summary.get("cpu_seconds_before") is None):
        return None
    return float(summary["cpu_seconds"]) + float(summary.get("cpu_seconds_before") or 0.0)


@dataclass
class MetricStats:
    n: int
    mean: float
    std: float  # sample standard deviation (ddof = 1); NaN for a single value
    best: float | None  # None when the metric has no direction
    median: float = math.nan
    median_low: float = math.nan  # the order-statistic interval of the median (median_ci) ...
    median_high: float = math.nan
    median_coverage: float = math.nan  # ... and its exact coverage (≥ 95 % from 6 runs on)


def metric_stats(values: Sequence[float], direction: str | None, confidence: float = 0.95) -> MetricStats:
    best = None if direction is None else (min(values) if direction == "min" else max(values))
    med = _scaled(statistics.median, values, math.ldexp)
    low, high, coverage = median_ci(values, confidence)
    return MetricStats(len(values), mean(values), stdev(values), best, med, low, high, coverage)


@dataclass
class GroupStats:
    """What the table says about one group of runs."""

    key: tuple[Any, ...]
    runs: list[Run]
    completed: int
    diverged: int
    failed: int
    metrics: dict[str, MetricStats] = field(default_factory=dict)
    wall_seconds: float = math.nan  # mean wall-clock time of a completed run (run_wall_seconds)
    cpu_seconds: float = math.nan  # mean CPU time of a completed run (run_cpu_seconds), when every one has it
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # config differences, not unfair by themselves
    hyperparameters: dict[str, str] = field(default_factory=dict)  # the searched keys, when one setting
    settings: int = 0  # distinct searched settings among the runs (1: the seed runs of one trial)

    @property
    def n(self) -> int:
        return len(self.runs)

    @property
    def failure_rate(self) -> float:
        return (self.diverged + self.failed) / self.n

    @property
    def name(self) -> str:
        return " / ".join(self.key)


def summarize(
    groups: dict[tuple[str, ...], list[Run]],
    directions: dict[str, str | None] | None = None,
    metrics: Iterable[str] | None = None,
) -> list[GroupStats]:
    """Counts, failure rate and per-metric statistics (over the completed runs) of each group: of
    every metric the runs have, or of ``metrics`` only."""
    directions = directions or {}
    keep = None if metrics is None else set(metrics)
    out = []
    for key, runs in groups.items():
        completed = [r for r in runs if r.status == "completed"]
        stats = GroupStats(
            key,
            list(runs),
            completed=len(completed),
            diverged=sum(r.status == "diverged" for r in runs),
            failed=sum(r.status == "failed" for r in runs),
        )
        names = sorted({m for r in completed for m in r.final_metrics() if keep is None or m in keep})
        for m in names:
            values = [r.final_metrics()[m] for r in completed if m in r.final_metrics()]
            direction = directions[m] if m in directions else metric_direction(m)
            stats.metrics[m] = metric_stats(values, direction)
        walls = [run_wall_seconds(r.summary) for r in completed if "wall_seconds" in r.summary]
        stats.wall_seconds = mean(walls) if walls else math.nan
        cpus = [run_cpu_seconds(r.summary) for r in completed]
        stats.cpu_seconds = mean(cpus) if cpus and None not in cpus else math.nan
        stats.warnings = unfair_mixes(runs)
        stats.notes = config_notes(runs)
        stats.hyperparameters, stats.settings = group_setting(runs)
        out.append(stats)
    return out


# ---------------------------------------------------------------------------------------------
# per-dataset panels: significance and budget curves
# ---------------------------------------------------------------------------------------------
def short_key(s: GroupStats, by: Sequence[str]) -> str:
    """A group's name inside its dataset's panel (the dataset part left out)."""
    parts = [v for k, v in zip(by, s.key) if k != "dataset"]
    return " / ".join(parts) or s.name


def panels(stats: Sequence[GroupStats], by: Sequence[str]) -> dict[str, list[tuple[GroupStats, list[Run]]]]:
    """For each dataset, the groups with runs on it and those runs: the unit of every plot panel,
    every budget curve and every significance test (ring and grid are never compared)."""
    out: dict[str, list[tuple[GroupStats, list[Run]]]] = {}
    for s in stats:
        by_dataset: dict[str, list[Run]] = {}
        for r in s.runs:
            by_dataset.setdefault(r.dataset(), []).append(r)
        for d, runs in by_dataset.items():
            out.setdefault(d, []).append((s, runs))
    return dict(sorted(out.items()))


@dataclass
class Significance:
    """The pairwise tests of one metric on one dataset, and the smallest Holm-adjusted p that the
    group sizes allow (``floor``: what complete separation of the largest groups would give)."""

    metric: str
    dataset: str
    direction: str
    tests: list[PairTest]
    floor: float = math.nan


def smallest_exact_p(n_a: int, n_b: int) -> float:
    """The smallest two-sided p an exact Mann–Whitney test can give between n_a and n_b runs, ties
    included: 2 / C(n_a + n_b, n_a) for equal sizes (the two complete separations are equally far
    from the null mean, whatever the ties), 1 / C(n_a + n_b, n_a) otherwise (ties at one end can
    leave one separation alone in its tail: 8 against [2, 2, 2, 3, 3] gives 1/6, not 2/6)."""
    return min(1.0, (2.0 if n_a == n_b else 1.0) / math.comb(n_a + n_b, n_a))


def smallest_holm_p(sizes: Sequence[int]) -> float:
    """The smallest Holm-adjusted p the exact test can give between groups of these ``sizes``, over
    all their pairs: K · the smallest p of any pair (:func:`smallest_exact_p`), K the number of pairs
    (the first Holm step multiplies the smallest p by K, and every later adjusted p is at least
    that). Complete separation of the pair with that smallest p reaches it."""
    pairs = list(combinations(sizes, 2))
    if not pairs:
        return 1.0
    return min(1.0, len(pairs) * min(smallest_exact_p(a, b) for a, b in pairs))


def _values(runs: Sequence[Run], metric: str) -> list[float]:
    return [r.final_metrics()[metric] for r in runs if r.status == "completed" and metric in r.final_metrics()]


def significance(
    stats: Sequence[GroupStats],
    by: Sequence[str],
    directions: dict[str, str | None],
    alpha: float = ALPHA,
    seed: int = 0,
) -> tuple[list[Significance], list[str]]:
    """Holm-corrected pairwise Mann–Whitney tests of each metric with a direction, between the
    groups of each dataset (their completed runs), and the caveats the group sizes call for: a
    group with fewer than MIN_RUNS_FOR_TESTS runs (the smallest p any of its tests can give), and a
    dataset whose design cannot reach a Holm-adjusted p below ``alpha`` at all. A metric whose groups
    all have one run (one group per seed, say) is not tested: one run against one gives p = 1."""
    out, caveats = [], []
    for dataset, members in panels(stats, by).items():
        if len(members) < 2:
            continue
        smallest: dict[str, tuple[int, float]] = {}  # group → (its runs, the smallest p of its tests)
        floors, untested = [], []
        for m, direction in directions.items():
            if direction is None:
                continue
            groups = {short_key(s, by): v for s, runs in members if (v := _values(runs, m))}
            if len(groups) < 2:
                continue
            if all(len(v) == 1 for v in groups.values()):
                untested.append(m)
                continue
            floor = smallest_holm_p([len(v) for v in groups.values()])
            floors.append((floor, m, sorted(len(v) for v in groups.values())))
            out.append(
                Significance(m, dataset, direction, pairwise_mann_whitney(groups, direction, alpha, seed=seed), floor)
            )
            for name, values in groups.items():
                bound = min(smallest_exact_p(len(values), len(o)) for g, o in groups.items() if g != name)
                if len(values) < MIN_RUNS_FOR_TESTS and bound < smallest.get(name, (0, math.inf))[1]:
                    smallest[name] = (len(values), bound)
        if untested:
            caveats.append(
                f"{dataset}: every group has one completed run in {', '.join(untested)}: no test between groups "
                "(one run against one always gives p = 1); the table lists each run's values"
            )
        for name, (n, bound) in sorted(smallest.items()):
            caveats.append(
                f"{dataset}: group {name} has {n} completed run(s), fewer than {MIN_RUNS_FOR_TESTS}: the exact test "
                f"cannot give it a p below {bound:.2g} against any other group, so 'not significant' says little"
            )
        if floors:
            floor, _, sizes = min(floors)
            if floor >= alpha:
                caveats.append(
                    f"{dataset}: {len(sizes)} groups of {_sizes(sizes)} completed runs: the smallest Holm-adjusted p "
                    f"the exact test can reach over the {math.comb(len(sizes), 2)} pairs is {floor:.2g}, not below "
                    f"{alpha}: no difference can be significant, whatever the values; more runs per group can"
                )
    return out, caveats


def _sizes(sizes: Sequence[int]) -> str:
    return str(sizes[0]) if len(set(sizes)) == 1 else f"{sizes[0]}–{sizes[-1]}"


def better_than(tests: Sequence[Significance]) -> dict[tuple[str, str, str], list[str]]:
    """``(dataset, group, metric)`` → the groups it is significantly better than."""
    out: dict[tuple[str, str, str], list[str]] = {}
    for sig in tests:
        for t in sig.tests:
            if t.better is not None:
                loser = t.b if t.better == t.a else t.a
                out.setdefault((sig.dataset, t.better, sig.metric), []).append(loser)
    return out


@dataclass
class BudgetCurve:
    """The best-of-k curve of one group on one dataset for one metric."""

    metric: str
    dataset: str
    group: str
    n_trials: int
    n_failed: int
    points: list[BestOfK]


def budget_curves(
    stats: Sequence[GroupStats], by: Sequence[str], directions: dict[str, str | None]
) -> list[BudgetCurve]:
    """For each metric with a direction, dataset and group: the exact expected best of k of the
    group's runs (a diverged or failed run is a trial without a value, ranked worst). A group made
    of the seed runs of one search trial has none: its runs share one setting, so the best of k of
    them is a pick among seeds, not a tuning budget."""
    out = []
    for m, direction in directions.items():
        if direction is None:
            continue
        for dataset, members in panels(stats, by).items():
            for s, runs in members:
                if s.settings == 1:
                    continue
                pool: list[float | None] = [r.final_metrics().get(m) if r.status == "completed" else None for r in runs]
                if all(v is None for v in pool):
                    continue
                points = best_of_k(pool, direction)
                out.append(BudgetCurve(m, dataset, short_key(s, by), len(pool), sum(v is None for v in pool), points))
    return out
