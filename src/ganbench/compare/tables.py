"""The comparison's tables: the markdown table printed and written to ``comparison.md``, and
``comparison.csv``, ``significance.csv`` and ``budget.csv``."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ganbench.compare.hyperparameters import describe
from ganbench.compare.stats import (
    ALPHA,
    BudgetCurve,
    GroupStats,
    MetricStats,
    Significance,
    better_than,
    panels,
    short_key,
)
from ganbench.summary import atomic_write_text

ARROW = {"max": "↑", "min": "↓", None: ""}
BETTER = {"max": "higher is better", "min": "lower is better", None: "no better side"}
# What the time column measures: the wall-clock seconds of a run (summary.json's wall_seconds, plus
# wall_seconds_before for a resumed run), which follow the machine's load as much as the objective's cost.
# The median with its order-statistic interval, labelled with the exact coverage of that interval.
MEDIAN_COLUMN = "median [interval] (its coverage)"
TIME_COLUMN = "wall time/run (s)"
# The CPU seconds of a run's training process (cpu_seconds, with cpu_seconds_before): shown when
# some group's runs all record it, which they do from the version of ganbench that writes it.
CPU_COLUMN = "CPU time/run (s)"


def has_cpu_time(stats: Sequence[GroupStats]) -> bool:
    """Whether the table has a CPU time column: some group's completed runs all record their CPU time."""
    return any(not math.isnan(s.cpu_seconds) for s in stats)


def axis_label(metric: str, direction: str | None) -> str:
    """A plot axis naming ``metric`` and its better side: ``mode_tv (lower is better)``."""
    return f"{metric} ({BETTER[direction]})"


def searched(stats: Sequence[GroupStats]) -> bool:
    """Whether any group's runs are or re-run search trials (the table then shows their settings)."""
    return any(s.settings for s in stats)


def _fmt(x: float | None) -> str:
    if x is None:
        return "—"
    if isinstance(x, float) and math.isnan(x):
        return "n/a"
    return f"{x:.3g}"


def median_cell(ms: MetricStats) -> str:
    """``median [low, high] (coverage)``: the median and its order-statistic interval, labelled with
    the interval's exact coverage (97.9 % at 10 runs, 93.8 % at 5: see :func:`median_ci`)."""
    if math.isnan(ms.median_low):
        return _fmt(ms.median)
    return f"{_fmt(ms.median)} [{_fmt(ms.median_low)}, {_fmt(ms.median_high)}] ({100 * ms.median_coverage:.3g}%)"


def metric_names(stats: Sequence[GroupStats]) -> list[str]:
    """Every metric of the table, the benchmark's usual order first."""
    preferred = ["modes_captured", "high_quality", "reverse_kl", "fid", "kid"]
    names = {m for s in stats for m in s.metrics}
    return [m for m in preferred if m in names] + sorted(names - set(preferred))


def markdown_table(stats: Sequence[GroupStats], by: Sequence[str], directions: dict[str, str | None]) -> str:
    names = metric_names(stats)
    header = [*by, "runs", "failure rate"]
    for m in names:
        arrow = ARROW[directions.get(m)]
        header += [f"{m} {arrow} (mean ± std)".replace("  ", " "), MEDIAN_COLUMN, f"best {m}"]
    header.append(TIME_COLUMN)
    if has_cpu_time(stats):
        header.append(CPU_COLUMN)
    if searched(stats):
        header.append("hyperparameters (searched)")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for s in stats:
        cells = [*s.key, str(s.n), f"{100 * s.failure_rate:.0f}% ({s.diverged + s.failed}/{s.n})"]
        for m in names:
            ms = s.metrics.get(m)
            if ms:
                cells += [f"{_fmt(ms.mean)} ± {_fmt(ms.std)}", median_cell(ms), _fmt(ms.best)]
            else:
                cells += ["—", "—", "—"]
        cells.append(_fmt(s.wall_seconds))
        if has_cpu_time(stats):
            cells.append(_fmt(s.cpu_seconds))
        if searched(stats):
            cells.append(describe(s.hyperparameters, s.settings))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def significance_table(
    stats: Sequence[GroupStats], by: Sequence[str], tests: Sequence[Significance], directions: dict[str, str | None]
) -> str:
    """One row per dataset and group, one "significantly better than" column per tested metric."""
    tested = [m for m in metric_names(stats) if any(t.metric == m for t in tests)]
    if not tested:
        return ""
    wins = better_than(tests)
    header = ["dataset", "group", *[f"{m} {ARROW[directions.get(m)]} better than" for m in tested]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for dataset, members in panels(stats, by).items():
        if not any(t.dataset == dataset for t in tests):
            continue
        for s, _ in members:
            name = short_key(s, by)
            cells = [dataset, name, *[", ".join(wins.get((dataset, name, m), [])) or "—" for m in tested]]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


Rows = tuple[list[str], list[list[Any]]]


def group_rows(stats: Sequence[GroupStats], by: Sequence[str]) -> Rows:
    """The columns and rows of ``comparison.csv`` (and of the W&B table ``tuned``): per group the
    counts, per metric n, mean, std, best, the median with its interval and that interval's coverage,
    the mean wall time (and CPU time, when the runs record it), the searched hyperparameters and the
    warnings."""
    names = metric_names(stats)
    columns = [*by, "runs", "completed", "diverged", "failed", "failure_rate"]
    for m in names:
        columns += [f"{m}_n", f"{m}_mean", f"{m}_std", f"{m}_best", f"{m}_median", f"{m}_median_ci_low",
                    f"{m}_median_ci_high", f"{m}_median_ci_coverage"]  # fmt: skip
    columns += [
        "wall_seconds_mean",
        *(["cpu_seconds_mean"] if has_cpu_time(stats) else []),
        "hyperparameters",
        "warnings",
    ]
    rows = []
    for s in stats:
        row: list[Any] = [*s.key, s.n, s.completed, s.diverged, s.failed, s.failure_rate]
        for m in names:
            ms = s.metrics.get(m)
            if ms:
                best = "" if ms.best is None else ms.best
                row += [ms.n, ms.mean, ms.std, best, ms.median, ms.median_low, ms.median_high, ms.median_coverage]
            else:
                row += [0, "", "", "", "", "", "", ""]
        setting = describe(s.hyperparameters, s.settings) if s.settings else ""
        row += [
            s.wall_seconds,
            *([s.cpu_seconds] if has_cpu_time(stats) else []),
            setting,
            "; ".join(s.warnings + s.notes),
        ]
        rows.append(row)
    return columns, rows


def significance_rows(tests: Sequence[Significance]) -> Rows:
    """The columns and rows of ``significance.csv`` (and of the W&B table ``significance``): one row
    per pair, with a's U, the exact p and its Holm adjustment, the better group, the probability that
    a run of a beats a run of b in the metric's direction (with its bootstrap interval) and the
    Hodges–Lehmann median difference a − b (with its interval)."""
    columns = ["metric", "direction", "dataset", "group_a", "group_b", "n_a", "n_b", "u_a", "p", "p_holm", "method",
               "better", "prob_a_better", "prob_a_better_ci_low", "prob_a_better_ci_high", "median_difference",
               "median_difference_ci_low", "median_difference_ci_high"]  # fmt: skip
    rows = [[sig.metric, sig.direction, sig.dataset, t.a, t.b, t.n_a, t.n_b, t.u, t.p, t.p_holm, t.method,
             t.better or "", t.prob_a_better, *t.prob_ci, t.shift, *t.shift_ci]
            for sig in tests for t in sig.tests]  # fmt: skip
    return columns, rows


def budget_rows(curves: Sequence[BudgetCurve]) -> Rows:
    """The columns and rows of ``budget.csv`` (and of the W&B table ``budget``)."""
    columns = ["metric", "dataset", "group", "k", "n_trials", "n_failed", "expected_best", "q25", "q75",
               "p_all_failed"]  # fmt: skip
    rows = [[c.metric, c.dataset, c.group, p.k, c.n_trials, c.n_failed, p.mean, p.q_low, p.q_high, p.p_all_failed]
            for c in curves for p in c.points]  # fmt: skip
    return columns, rows


def write_rows(path: Path, table: Rows) -> Path:
    """A CSV file of ``(columns, rows)``, written atomically."""
    text = io.StringIO(newline="")
    w = csv.writer(text)
    w.writerow(table[0])
    w.writerows(table[1])
    atomic_write_text(path, text.getvalue())
    return path


def markdown_report(
    paths: Sequence[Path | str],
    n_runs: int,
    by: Sequence[str],
    table: str,
    sig_table: str,
    caveats: Sequence[str],
    warnings: Sequence[str],
    files: Sequence[Path],
    samples: Sequence[Path] = (),
    sample_notes: Sequence[str] = (),
    not_shown: Sequence[str] = (),
    search: Sequence[Path | str] = (),
) -> str:
    """The text of ``comparison.md``: the table, the significance table, the warnings and the plots
    (``files``: the curves and budget curves; ``samples``: the sample figures, ``sample_notes``
    their panels without samples; ``not_shown``: the runs' metrics that ``--metrics`` left out;
    ``search``: the search runs the budget curves come from, when not from the runs compared)."""
    md = [
        f"# Comparison of {n_runs} runs by {', '.join(by)}",
        "",
        f"Sources: {', '.join(str(Path(p)) for p in paths)}. Metrics are the final evaluation of each completed "
        "run: mean ± sample standard deviation (ddof = 1) over the runs of a group; the median with a "
        "distribution-free interval from the order statistics, labelled with its exact coverage (at least 95 % "
        "from 6 runs on, whatever the metric's distribution: 97.9 % at 10 runs; fewer runs give [min, max], 93.8 % "
        "at 5); and the best run (↑ higher is better, ↓ lower is better, as each evaluator declares). "
        f"Failure rate = (diverged + failed) / runs. {TIME_COLUMN}: the mean wall-clock seconds of a completed run "
        "(it follows the machine's load, not only the objective's cost)."
        + (" Hyperparameters: the values of the keys the search varied, when the group's runs share one setting "
           + ("(the seed runs of one trial; the budget curves below are those of the search, --search)."
              if search else
              "(the seed runs of one trial; such a group has no budget curve, its runs differing only in seed).")
           if "hyperparameters (searched)" in table else "")
        + (f" Not shown (--metrics): {', '.join(not_shown)}." if not_shown else ""),
        "",
        table,
        "",
    ]  # fmt: skip
    if sig_table:
        md += [
            "## Significance",
            "",
            f"Two-sided exact Mann–Whitney tests between every pair of groups on the same dataset, Holm-corrected "
            f"over the pairs of each metric and dataset; a group is listed as better when the corrected p < {ALPHA}. "
            "All p-values: significance.csv; every pair with its effect sizes: [findings.md](findings.md).",
            "",
            sig_table,
            "",
        ]
    md += [f"- caveat: {c}" for c in caveats] + ([""] if caveats else [])
    if warnings:
        md += ["**Warnings**", "", *[f"- {w}" for w in warnings], ""]
    curves = [f for f in files if f.suffix == ".png" and not f.stem.startswith("budget_")]
    budget = [f for f in files if f.suffix == ".png" and f.stem.startswith("budget_")]
    if samples:
        md += ["Samples of each group's median run (by its optimized metric), in the table's order:", "",
               *[f"![{p.stem}]({p.name})" for p in samples], ""]  # fmt: skip
    if samples or sample_notes:
        md += [f"- {n}" for n in sample_notes] + ([""] if sample_notes else [])
    if curves:
        md += ["Curves (median over runs, band 25–75 % of runs; one panel per dataset):", "",
               *[f"![{p.stem}]({p.name})" for p in curves], ""]  # fmt: skip
    if budget:
        source = f" of the search runs under {', '.join(str(Path(p)) for p in search)} (--search)" if search else ""
        md += [
            f"Budget curves{source}: the expected best final metric among k runs drawn without replacement from a "
            "group's runs (exact, from order statistics), band 25–75 % of that best (one far-off run can put the mean "
            "outside the band); diverged and failed runs count as "
            "trials without a value (budget.csv has the probability that all k failed):",
            "",
            *[f"![{p.stem}]({p.name})" for p in budget],
            "",
        ]
    return "\n".join(md)
