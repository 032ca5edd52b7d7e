"""``ganbench-compare PATH…``: tables and plots over many runs.

Reads ``summary.json`` (and ``config.yaml`` and ``metrics.csv``) of every run under the given
directories (multirun roots, single run directories, or any folder above them), groups the runs
by config choices (default ``loss,regularizer``), and reports per group:

- the number of runs and the failure rate, (diverged + failed) / runs;
- for each final metric of the completed runs: mean ± standard deviation over the runs (sample
  standard deviation, ddof = 1) and the best value.

It prints the table and writes ``comparison.md``, ``comparison.csv`` and one PNG per metric (the
metric against iterations, one line per group: the mean over runs with a ±1 std band).

A comparison is only fair between runs with the same data and budget: a group that mixes
datasets, iteration budgets or evaluation sample counts gets a warning.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

SUMMARY = "summary.json"
FAILURES = ("diverged", "failed")
COUNTED = ("completed", *FAILURES)
# Summary metrics that describe the benchmark rather than the run.
NOT_METRICS = frozenset({"num_modes", "num_classes"})
# Lower is better for these metric names (or names containing them); higher for the others.
LOWER_IS_BETTER = ("fid", "kid", "kl", "loss", "distance", "error")
DEFAULT_BY = ("loss", "regularizer")
MISSING = "(none)"


class CompareError(ValueError):
    """A comparison that cannot be made (no runs, unknown grouping key …), with what to do about it."""


@dataclass
class Run:
    """One run directory: its summary, its resolved config (if present) and its metrics.csv path."""

    path: Path
    summary: dict[str, Any]
    config: Any = None  # DictConfig of config.yaml, or None

    @property
    def status(self) -> str:
        return str(self.summary.get("status"))

    def value(self, key: str) -> Any:
        """A grouping value: a config-group choice, else a summary field, else a config.yaml key."""
        choices = self.summary.get("choices") or {}
        if key in choices:
            return choices[key]
        if key in self.summary and not isinstance(self.summary[key], (dict, list)):
            return self.summary[key]
        if self.config is not None:
            found = OmegaConf.select(self.config, key, default=None, throw_on_missing=False)
            if found is not None and not OmegaConf.is_config(found):
                return found
        return None

    def budget(self) -> Any:
        """The planned number of iterations (config.yaml), else the iterations the summary reports."""
        if self.config is not None and OmegaConf.select(self.config, "iterations", default=None) is not None:
            return self.config.iterations
        return self.summary.get("iterations")

    def final_metrics(self) -> dict[str, float]:
        out = {}
        for k, v in (self.summary.get("metrics") or {}).items():
            if k not in NOT_METRICS and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                out[k] = float(v)
        return out

    def curve(self, metric: str) -> list[tuple[int, float]]:
        """``(iteration, value)`` rows of ``metric`` in metrics.csv, in order."""
        path = self.path / "metrics.csv"
        if not path.is_file():
            return []
        points = []
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                x, y = row.get("iteration") or row.get("step"), row.get(metric)
                if x not in (None, "") and y not in (None, ""):
                    y = float(y)
                    if math.isfinite(y):
                        points.append((int(float(x)), y))
        return points


def find_runs(paths: Sequence[Path | str]) -> tuple[list[Run], list[Path]]:
    """Every run under ``paths`` (a directory with ``summary.json``), and the run directories that have
    a ``metrics.csv`` but no summary yet (still running, or killed)."""
    if not paths:
        raise CompareError("give at least one directory: ganbench-compare multirun/2026-11-23_11-40-02")
    summaries: dict[Path, None] = {}
    unfinished: dict[Path, None] = {}
    for p in map(Path, paths):
        if not p.exists():
            raise CompareError(f"{p} does not exist: give a run directory or a multirun directory")
        if p.is_file():
            p = p.parent
        for s in sorted([p / SUMMARY] if (p / SUMMARY).is_file() else p.rglob(SUMMARY)):
            summaries[s.resolve()] = None
        for m in p.rglob("metrics.csv"):
            if not (m.parent / SUMMARY).is_file():
                unfinished[m.parent.resolve()] = None
    runs = []
    for s in summaries:
        try:
            summary = json.loads(s.read_text())
        except json.JSONDecodeError as err:
            raise CompareError(f"{s} is not valid JSON ({err}): delete it or rerun that job") from None
        config_path = s.parent / "config.yaml"
        config = OmegaConf.load(config_path) if config_path.is_file() else None
        runs.append(Run(s.parent, summary, config))
    return runs, list(unfinished)


def metric_direction(name: str, minimize: Iterable[str] = (), maximize: Iterable[str] = ()) -> str:
    """``"min"`` when lower values of metric ``name`` are better, else ``"max"``."""
    if name in set(minimize):
        return "min"
    if name in set(maximize):
        return "max"
    return "min" if any(token in name.lower() for token in LOWER_IS_BETTER) else "max"


@dataclass
class MetricStats:
    n: int
    mean: float
    std: float  # sample standard deviation (ddof = 1); NaN for a single value
    best: float


@dataclass
class GroupStats:
    """What the table says about one group of runs."""

    key: tuple[Any, ...]
    runs: list[Run]
    completed: int
    diverged: int
    failed: int
    metrics: dict[str, MetricStats] = field(default_factory=dict)
    wall_seconds: float = math.nan
    warnings: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.runs)

    @property
    def failure_rate(self) -> float:
        return (self.diverged + self.failed) / self.n


def metric_stats(values: Sequence[float], direction: str) -> MetricStats:
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else math.nan
    best = min(values) if direction == "min" else max(values)
    return MetricStats(len(values), mean, std, best)


def _label(value: Any) -> str:
    return MISSING if value is None else str(value)


def group_runs(runs: Sequence[Run], by: Sequence[str]) -> dict[tuple[str, ...], list[Run]]:
    """Runs grouped by the values of the keys ``by``, in sorted order of the keys."""
    unknown = [k for k in by if all(r.value(k) is None for r in runs)]
    if unknown:
        known = sorted({k for r in runs for k in (r.summary.get("choices") or {})})
        raise CompareError(
            f"no run has a value for --by key(s) {', '.join(unknown)}: use config-group choices "
            f"({', '.join(known)}), summary fields (seed, status) or config keys (n_critic, optimizer.generator.lr)"
        )
    groups: dict[tuple[str, ...], list[Run]] = {}
    for r in runs:
        groups.setdefault(tuple(_label(r.value(k)) for k in by), []).append(r)
    return dict(sorted(groups.items()))


def _mixed(runs: Sequence[Run], what: str, values: Iterable[Any]) -> str | None:
    distinct = sorted({_label(v) for v in values})
    return f"mixes {what}: {', '.join(distinct)}" if len(distinct) > 1 else None


def summarize(
    groups: dict[tuple[str, ...], list[Run]],
    minimize: Iterable[str] = (),
    maximize: Iterable[str] = (),
) -> list[GroupStats]:
    """Counts, failure rate and per-metric statistics (over the completed runs) of each group."""
    minimize, maximize = list(minimize), list(maximize)
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
        names = sorted({m for r in completed for m in r.final_metrics()})
        for m in names:
            values = [r.final_metrics()[m] for r in completed if m in r.final_metrics()]
            stats.metrics[m] = metric_stats(values, metric_direction(m, minimize, maximize))
        walls = [float(r.summary["wall_seconds"]) for r in completed if "wall_seconds" in r.summary]
        stats.wall_seconds = statistics.fmean(walls) if walls else math.nan
        checks = [
            _mixed(runs, "datasets", (r.value("dataset") for r in runs)),
            _mixed(runs, "iteration budgets", (r.budget() for r in runs)),
            _mixed(runs, "evaluation sample counts", (r.value("eval.num_samples") for r in runs)),
        ]
        stats.warnings = [c for c in checks if c]
        out.append(stats)
    return out


def _fmt(x: float) -> str:
    if isinstance(x, float) and math.isnan(x):
        return "n/a"
    return f"{x:.3g}"


def metric_names(stats: Sequence[GroupStats]) -> list[str]:
    """Every metric of the table, the benchmark's usual order first."""
    preferred = ["modes_captured", "high_quality", "reverse_kl", "fid", "kid"]
    names = {m for s in stats for m in s.metrics}
    return [m for m in preferred if m in names] + sorted(names - set(preferred))


def markdown_table(stats: Sequence[GroupStats], by: Sequence[str], minimize=(), maximize=()) -> str:
    names = metric_names(stats)
    header = [*by, "runs", "failure rate"]
    for m in names:
        arrow = "↓" if metric_direction(m, minimize, maximize) == "min" else "↑"
        header += [f"{m} {arrow} (mean ± std)", f"best {m}"]
    header.append("time/run (s)")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for s in stats:
        cells = [*s.key, str(s.n), f"{100 * s.failure_rate:.0f}% ({s.diverged + s.failed}/{s.n})"]
        for m in names:
            ms = s.metrics.get(m)
            cells += [f"{_fmt(ms.mean)} ± {_fmt(ms.std)}", _fmt(ms.best)] if ms else ["—", "—"]
        cells.append(_fmt(s.wall_seconds))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_csv(path: Path, stats: Sequence[GroupStats], by: Sequence[str]) -> Path:
    names = metric_names(stats)
    columns = [*by, "runs", "completed", "diverged", "failed", "failure_rate"]
    for m in names:
        columns += [f"{m}_n", f"{m}_mean", f"{m}_std", f"{m}_best"]
    columns += ["wall_seconds_mean", "warnings"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for s in stats:
            row: list[Any] = [*s.key, s.n, s.completed, s.diverged, s.failed, s.failure_rate]
            for m in names:
                ms = s.metrics.get(m)
                row += [ms.n, ms.mean, ms.std, ms.best] if ms else [0, "", "", ""]
            row += [s.wall_seconds, "; ".join(s.warnings)]
            w.writerow(row)
    return path


def band(curves: Sequence[Sequence[tuple[int, float]]]) -> tuple[list[int], list[float], list[float]]:
    """Mean and standard deviation (ddof = 1; 0 for one run) over runs at each logged iteration."""
    at: dict[int, list[float]] = {}
    for c in curves:
        for x, y in c:
            at.setdefault(x, []).append(y)
    xs = sorted(at)
    means = [statistics.fmean(at[x]) for x in xs]
    stds = [statistics.stdev(at[x]) if len(at[x]) > 1 else 0.0 for x in xs]
    return xs, means, stds


def plot_metric(path: Path, metric: str, stats: Sequence[GroupStats], by: Sequence[str]) -> Path | None:
    """One PNG: ``metric`` against iterations, a line per group (mean over its runs) and a ±1 std band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours = plt.get_cmap("tab10" if len(stats) <= 10 else "tab20")
    drawn = 0
    for i, s in enumerate(stats):
        xs, means, stds = band([r.curve(metric) for r in s.runs])
        if not xs:
            continue
        colour = colours(i % colours.N)
        label = " / ".join(s.key) + f" (n={s.n})"
        ax.plot(xs, means, color=colour, label=label, marker="." if len(xs) < 30 else None)
        ax.fill_between(
            xs, [m - d for m, d in zip(means, stds)], [m + d for m, d in zip(means, stds)], color=colour, alpha=0.2
        )
        drawn += 1
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xlabel("iteration")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} by {', '.join(by)}: mean over runs, band ±1 std")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2 if len(stats) > 8 else 1)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


@dataclass
class Comparison:
    """The result of :func:`compare`: the groups' statistics, the warnings and the files written."""

    by: list[str]
    stats: list[GroupStats]
    warnings: list[str]
    table: str
    files: list[Path]


def compare(
    paths: Sequence[Path | str],
    by: Sequence[str] = DEFAULT_BY,
    out: Path | str | None = None,
    plots: bool = True,
    minimize: Iterable[str] = (),
    maximize: Iterable[str] = (),
) -> Comparison:
    """Find, group and summarise the runs under ``paths``; write the table and plots into ``out``
    (default: ``PATH/comparison`` for one PATH, else ``./comparison``)."""
    by = [k.strip() for k in by if k.strip()]
    if not by:
        raise CompareError("--by needs at least one key, e.g. --by loss,regularizer")
    runs, unfinished = find_runs(paths)
    warnings = []
    if unfinished:
        warnings.append(
            f"{len(unfinished)} run director{'y has' if len(unfinished) == 1 else 'ies have'} metrics.csv but no "
            f"summary.json (still running, or killed) and are left out, e.g. {unfinished[0]}"
        )
    other = [r for r in runs if r.status not in COUNTED]
    if other:
        kinds = sorted({r.status for r in other})
        warnings.append(f"{len(other)} run(s) with status {', '.join(kinds)} left out (resume them to include them)")
    runs = [r for r in runs if r.status in COUNTED]
    if not runs:
        raise CompareError(
            f"no finished runs under {', '.join(map(str, paths))}: ganbench-compare reads the summary.json that "
            "ganbench-train writes into each run directory when the run ends (runs/… or multirun/…)"
        )
    stats = summarize(group_runs(runs, by), minimize, maximize)
    for s in stats:
        warnings += [f"group {' / '.join(s.key)} {w}: the comparison is unfair" for w in s.warnings]
    table = markdown_table(stats, by, minimize, maximize)

    out = Path(out) if out is not None else (Path(paths[0]) / "comparison" if len(paths) == 1 else Path("comparison"))
    out.mkdir(parents=True, exist_ok=True)
    files = [write_csv(out / "comparison.csv", stats, by)]
    if plots:
        for m in metric_names(stats):
            png = plot_metric(out / f"{m}.png", m, stats, by)
            if png is not None:
                files.append(png)
    md = [
        f"# Comparison of {len(runs)} runs by {', '.join(by)}",
        "",
        f"Sources: {', '.join(str(Path(p)) for p in paths)}. Metrics are the final evaluation of each "
        "completed run: mean ± sample standard deviation (ddof = 1) over the runs of a group, and the best "
        "run (↑ higher is better, ↓ lower is better). Failure rate = (diverged + failed) / runs.",
        "",
        table,
        "",
    ]
    if warnings:
        md += ["**Warnings**", "", *[f"- {w}" for w in warnings], ""]
    pngs = [f for f in files if f.suffix == ".png"]
    if pngs:
        md += ["Curves (mean over runs, band ±1 std):", "", *[f"![{p.stem}]({p.name})" for p in pngs], ""]
    (out / "comparison.md").write_text("\n".join(md))
    files.insert(0, out / "comparison.md")
    return Comparison(by, stats, warnings, table, files)


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="ganbench-compare",
        description="Compare ganbench runs: mean ± std and best of each final metric per group, failure rates, "
        "and metric-vs-iteration plots.",
    )
    p.add_argument("paths", nargs="+", type=Path, help="run directories, multirun directories or folders above them")
    p.add_argument(
        "--by",
        type=_split,
        default=list(DEFAULT_BY),
        help="comma-separated grouping keys: config-group choices (loss, regularizer, dataset …), summary fields "
        "or config keys (default: loss,regularizer)",
    )
    p.add_argument("--out", type=Path, default=None, help="output directory (default: PATH/comparison)")
    p.add_argument("--no-plots", action="store_true", help="write the tables only")
    p.add_argument("--minimize", type=_split, default=[], help="metrics where lower is better (beyond the defaults)")
    p.add_argument("--maximize", type=_split, default=[], help="metrics where higher is better (beyond the defaults)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        result = compare(args.paths, args.by, args.out, not args.no_plots, args.minimize, args.maximize)
    except CompareError as err:
        print(f"ganbench-compare: error: {err}", file=sys.stderr)
        return 2
    for w in result.warnings:
        print(f"ganbench-compare: warning: {w}", file=sys.stderr)
    print(result.table)
    print("\nwrote " + ", ".join(str(f) for f in result.files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
