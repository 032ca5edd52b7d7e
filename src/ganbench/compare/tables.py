"""The comparison's tables: the markdown table printed and written to ``comparison.md``, and
``comparison.csv``, ``significance.csv`` and ``budget.csv``."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ganbench.compare.stats import ALPHA, BudgetCurve, GroupStats, Significance, better_than, panels, short_key

ARROW = {"max": "↑", "min": "↓", None: ""}


def _fmt(x: float | None) -> str:
    if x is None:
        return "—"
    if isinstance(x, float) and math.isnan(x):
        return "n/a"
    return f"{x:.3g}"


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
        header += [f"{m} {arrow} (mean ± std)".replace("  ", " "), "95% CI", f"best {m}"]
    header.append("time/run (s)")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for s in stats:
        cells = [*s.key, str(s.n), f"{100 * s.failure_rate:.0f}% ({s.diverged + s.failed}/{s.n})"]
        for m in names:
            ms = s.metrics.get(m)
            if ms:
                ci = "n/a" if math.isnan(ms.ci_low) else f"[{_fmt(ms.ci_low)}, {_fmt(ms.ci_high)}]"
                cells += [f"{_fmt(ms.mean)} ± {_fmt(ms.std)}", ci, _fmt(ms.best)]
            else:
                cells += ["—", "—", "—"]
        cells.append(_fmt(s.wall_seconds))
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


def write_csv(path: Path, stats: Sequence[GroupStats], by: Sequence[str]) -> Path:
    names = metric_names(stats)
    columns = [*by, "runs", "completed", "diverged", "failed", "failure_rate"]
    for m in names:
        columns += [f"{m}_n", f"{m}_mean", f"{m}_std", f"{m}_best", f"{m}_ci_low", f"{m}_ci_high"]
    columns += ["wall_seconds_mean", "warnings"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for s in stats:
            row: list[Any] = [*s.key, s.n, s.completed, s.diverged, s.failed, s.failure_rate]
            for m in names:
                ms = s.metrics.get(m)
                if ms:
                    row += [ms.n, ms.mean, ms.std, "" if ms.best is None else ms.best, ms.ci_low, ms.ci_high]
                else:
                    row += [0, "", "", "", "", ""]
            row += [s.wall_seconds, "; ".join(s.warnings + s.notes)]
            w.writerow(row)
    return path


def write_significance_csv(path: Path, tests: Sequence[Significance]) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["metric", "direction", "dataset", "group_a", "group_b", "n_a", "n_b", "u_a", "p", "p_holm",
                    "better"])  # fmt: skip
        for sig in tests:
            for t in sig.tests:
                w.writerow([sig.metric, sig.direction, sig.dataset, t.a, t.b, t.n_a, t.n_b, t.u, t.p, t.p_holm,
                            t.better or ""])  # fmt: skip
    return path


def write_budget_csv(path: Path, curves: Sequence[BudgetCurve]) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["metric", "dataset", "group", "k", "n_trials", "n_failed", "expected_best", "q25", "q75",
                    "p_all_failed"])  # fmt: skip
        for c in curves:
            for p in c.points:
                w.writerow([c.metric, c.dataset, c.group, p.k, c.n_trials, c.n_failed, p.mean, p.q_low, p.q_high,
                            p.p_all_failed])  # fmt: skip
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
) -> str:
    """The text of ``comparison.md``: the table, the significance table, the warnings and the plots."""
    md = [
        f"# Comparison of {n_runs} runs by {', '.join(by)}",
        "",
        f"Sources: {', '.join(str(Path(p)) for p in paths)}. Metrics are the final evaluation of each completed "
        "run: mean ± sample standard deviation (ddof = 1) over the runs of a group, a 95 % BCa bootstrap interval "
        "of the mean (9,999 resamples, seeded; too narrow for few runs: about 84 % coverage at 5 runs), and the "
        "best run (↑ higher is better, ↓ lower is better, as each evaluator declares). "
        "Failure rate = (diverged + failed) / runs.",
        "",
        table,
        "",
    ]
    if sig_table:
        md += [
            "## Significance",
            "",
            f"Two-sided Mann–Whitney U tests between every pair of groups on the same dataset, Holm-corrected over "
            f"the pairs of each metric and dataset; a group is listed as better when the corrected p < {ALPHA}. "
            "All p-values: significance.csv.",
            "",
            sig_table,
            "",
        ]
        md += [f"- caveat: {c}" for c in caveats] + ([""] if caveats else [])
    if warnings:
        md += ["**Warnings**", "", *[f"- {w}" for w in warnings], ""]
    curves = [f for f in files if f.suffix == ".png" and not f.stem.startswith("budget_")]
    budget = [f for f in files if f.suffix == ".png" and f.stem.startswith("budget_")]
    if curves:
        md += ["Curves (mean over runs, band ±1 std; one panel per dataset):", "",
               *[f"![{p.stem}]({p.name})" for p in curves], ""]  # fmt: skip
    if budget:
        md += [
            "Budget curves: the expected best final metric among k runs drawn without replacement from a group's "
            "runs (exact, from order statistics), band 25–75 % of that best (one far-off run can put the mean "
            "outside the band); diverged and failed runs count as "
            "trials without a value (budget.csv has the probability that all k failed):",
            "",
            *[f"![{p.stem}]({p.name})" for p in budget],
            "",
        ]
    return "\n".join(md)
