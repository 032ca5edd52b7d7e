"""``ganbench-compare PATH…``: tables, intervals, tests and plots over many runs.

Reads ``summary.json`` (and ``config.yaml`` and ``metrics.csv``) of every run under the given
directories (multirun roots, single run directories, or any folder above them), groups the runs
(default ``--by loss,regularizer``: the objective as it was run, from the record's ``objective``,
else the config choices), and reports per group:

- the number of runs and the failure rate, (diverged + failed) / runs;
- for each final metric of the completed runs: mean ± standard deviation (ddof = 1), a seeded 95 %
  BCa bootstrap interval of the mean (:func:`ganbench.statistics.bootstrap_ci`) and the best run;
- the groups it is significantly better than: two-sided Mann–Whitney U tests between the groups
  of each dataset, Holm-corrected over the pairs (:func:`ganbench.statistics.pairwise_mann_whitney`);
- budget curves: the expected best metric among k trials drawn from the group's runs, k = 1..N
  (:func:`ganbench.statistics.best_of_k`), as in Lucic et al. 2018.

Each metric's direction (higher or lower is better) comes from the run record (``directions``,
declared by the evaluator); only records without it fall back to ``--minimize``/``--maximize`` and
then to a guess from the metric's name, with a warning. Metrics without a direction (the spread of
an estimate, such as ``kid_std``) get no best, no test and no budget curve.

Every plot has one panel per dataset: runs on different data never share an axis.

Nothing read is trusted: a summary that is not valid JSON, lacks a field or has a wrong type, and a
``metrics.csv`` row that is cut off or garbled, are reported with their path and line and left out.
A group that mixes datasets, iteration budgets, evaluation sample counts, or loss, regularizer,
model or optimizer configs gets a warning.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import statistics
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from ganbench.statistics import (
    MIN_RUNS_FOR_TESTS,
    BestOfK,
    PairTest,
    best_of_k,
    bootstrap_ci,
    min_two_sided_p,
    pairwise_mann_whitney,
)
from ganbench.summary import SUMMARY_NAME, is_number, summary_problem

SUMMARY = SUMMARY_NAME
METRICS_CSV = "metrics.csv"
FAILURES = ("diverged", "failed")
COUNTED = ("completed", *FAILURES)
# Old records (before "info") kept these benchmark facts among the metrics.
NOT_METRICS = frozenset({"num_modes", "num_classes"})
# Only for records without "directions": lower is better for names containing these.
LOWER_IS_BETTER = ("fid", "kid", "kl", "loss", "distance", "error")
DEFAULT_BY = ("loss", "regularizer")
# Config sections whose resolved values must agree within a group.
CONFIG_SECTIONS = ("loss", "regularizer", "model", "optimizer")
MISSING = "(none)"
ALPHA = 0.05
ARROW = {"max": "↑", "min": "↓", None: ""}
NUMBER = re.compile(r"^[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|nan|inf|infinity)$", re.IGNORECASE)
MAX_PROBLEMS_PER_FILE = 5

EXIT_CODES = """exit codes:
  0  the comparison was written (warnings, including runs left out as malformed, do not change it)
  1  an unexpected internal error (a bug: please report it with the traceback)
  2  a user error, said in one line: a bad argument, a path that does not exist, no valid finished
     run under the paths, an unknown --by key, an output directory that cannot be written
  130  interrupted (Ctrl-C)"""


class CompareError(ValueError):
    """A comparison that cannot be made (no runs, unknown grouping key …), with what to do about it."""


# ---------------------------------------------------------------------------------------------
# reading and validating the run records
# ---------------------------------------------------------------------------------------------
def _line_of(text: str, *keys: str) -> int:
    """The line of ``text`` (1-based) where the JSON key path ``keys`` appears, best effort: each
    key is searched after the line of the one before. 1 when not found."""
    lines = text.splitlines()
    start, found = 0, 1
    for key in keys:
        pattern = re.compile(r'"' + re.escape(key) + r'"\s*:')
        for i in range(start, len(lines)):
            if pattern.search(lines[i]):
                start, found = i + 1, i + 1
                break
        else:
            return found
    return found


def read_summary_file(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """``(summary, None)`` for a valid ``summary.json``, else ``(None, "path:line: what is wrong")``."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        return None, f"{path}: cannot be read ({err})"
    try:
        summary = json.loads(text)
    except json.JSONDecodeError as err:
        return None, f"{path}:{err.lineno}: not valid JSON ({err.msg}, column {err.colno})"
    problem = summary_problem(summary)
    if problem:
        message, keys = problem
        return None, f"{path}:{_line_of(text, *keys) if keys else 1}: {message}"
    return summary, None


def _number(text: str) -> float | None:
    """The value of a metrics.csv cell, or None when it is not a plain number."""
    text = text.strip()
    return float(text) if NUMBER.match(text) else None


def read_metrics_csv(path: Path) -> tuple[list[dict[str, float]], list[str]]:
    """The rows of a ``metrics.csv`` as ``{column: value}`` (empty cells left out), and the problems
    found, each ``"path:line: what is wrong"``. A row is left out when it has the wrong number of
    fields, a cell that is not a number, an iteration that is not an integer, or when it is the
    last line and has no line end (the run was cut off while writing it: ``1.`` may be the start of
    ``1.134``)."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        return [], [f"{path}: cannot be read ({err})"]
    lines = text.splitlines(keepends=True)
    if not lines:
        return [], []
    header = next(csv.reader([lines[0]]))
    rows, problems = [], []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        if number == len(lines) and not line.endswith(("\n", "\r")):
            problems.append(f"{path}:{number}: the last row has no line end (cut off while being written)")
            continue
        cells = next(csv.reader([line]))
        if len(cells) != len(header):
            problems.append(f"{path}:{number}: {len(cells)} fields, the header has {len(header)}")
            continue
        row: dict[str, float] = {}
        for name, cell in zip(header, cells):
            if cell.strip() == "":
                continue
            value = _number(cell)
            if value is None:
                problems.append(f"{path}:{number}: column {name}: {cell!r} is not a number")
                break
            if name in ("iteration", "step") and not (math.isfinite(value) and value == int(value)):
                problems.append(f"{path}:{number}: column {name}: {cell!r} is not an iteration number")
                break
            row[name] = value
        else:
            rows.append(row)
    return rows, problems


def _cap(problems: list[str]) -> list[str]:
    if len(problems) <= MAX_PROBLEMS_PER_FILE:
        return problems
    return [*problems[:MAX_PROBLEMS_PER_FILE], f"… and {len(problems) - MAX_PROBLEMS_PER_FILE} more in that file"]


@dataclass
class Run:
    """One run directory: its validated summary, its resolved config (if present) and its curves."""

    path: Path
    summary: dict[str, Any]
    config: Any = None  # DictConfig of config.yaml, or None
    _rows: list[dict[str, float]] | None = field(default=None, repr=False)
    problems: list[str] = field(default_factory=list, repr=False)

    @property
    def status(self) -> str:
        return str(self.summary.get("status"))

    def value(self, key: str) -> Any:
        """A grouping value: the recorded objective (loss, regularizer as they were run), else a
        config-group choice, else a summary field, else a config.yaml key."""
        objective = self.summary.get("objective") or {}
        if objective.get(key) is not None:
            return objective[key]
        choices = self.summary.get("choices") or {}
        if key in choices:
            return choices[key]
        if key in self.summary and not isinstance(self.summary[key], (dict, list)):
            return self.summary[key]
        config = self.config
        if config is None and isinstance(self.summary.get("config"), dict):  # a job refused before it ran
            config = OmegaConf.create(self.summary["config"])
        if config is not None:
            found = OmegaConf.select(config, key, default=None, throw_on_missing=False)
            if found is not None and not OmegaConf.is_config(found):
                return found
        return None

    def dataset(self) -> str:
        return _label(self.value("dataset"))

    def budget(self) -> Any:
        """The planned number of iterations (config.yaml), else the iterations the summary reports."""
        if self.config is not None and OmegaConf.select(self.config, "iterations", default=None) is not None:
            return self.config.iterations
        return self.summary.get("iterations")

    def final_metrics(self) -> dict[str, float]:
        """The finite final metrics (benchmark facts such as num_modes are not metrics)."""
        info = self.summary.get("info") or {}
        out = {}
        for k, v in (self.summary.get("metrics") or {}).items():
            if k in NOT_METRICS or k in info:
                continue
            if is_number(v) and math.isfinite(v):
                out[k] = float(v)
        return out

    def rows(self) -> list[dict[str, float]]:
        """The valid rows of metrics.csv (read once; problems go to :attr:`problems`)."""
        if self._rows is None:
            path = self.path / METRICS_CSV
            self._rows, problems = read_metrics_csv(path) if path.is_file() else ([], [])
            self.problems += _cap(problems)
        return self._rows

    def curve(self, metric: str) -> list[tuple[int, float]]:
        """``(iteration, value)`` rows of ``metric`` in metrics.csv, in order (finite values only)."""
        points = []
        for row in self.rows():
            x = row.get("iteration", row.get("step"))
            y = row.get(metric)
            if x is not None and y is not None and math.isfinite(y):
                points.append((int(x), y))
        return points


def _load_config(path: Path) -> tuple[Any, str | None]:
    if not path.is_file():
        return None, None
    try:
        return OmegaConf.load(path), None
    except Exception as err:  # noqa: BLE001 (any YAML or OmegaConf error: the config is unusable)
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return None, f"{path}: not a readable config ({first}); its config keys are not used"


def find_runs(paths: Sequence[Path | str]) -> tuple[list[Run], list[Path], list[str]]:
    """Every valid run under ``paths`` (a directory with a valid ``summary.json``), the run
    directories that have a ``metrics.csv`` but no summary yet (still running, or killed), and one
    ``"path:line: problem"`` line per summary or config that was left out or could not be used."""
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
        for m in p.rglob(METRICS_CSV):
            if not (m.parent / SUMMARY).is_file():
                unfinished[m.parent.resolve()] = None
    runs, problems = [], []
    for s in summaries:
        summary, problem = read_summary_file(s)
        if problem:
            problems.append(f"{problem}: left out")
            continue
        config, config_problem = _load_config(s.parent / "config.yaml")
        if config_problem:
            problems.append(config_problem)
        runs.append(Run(s.parent, summary, config))
    return runs, list(unfinished), problems


# ---------------------------------------------------------------------------------------------
# directions
# ---------------------------------------------------------------------------------------------
def metric_direction(name: str, minimize: Iterable[str] = (), maximize: Iterable[str] = ()) -> str:
    """The fallback for records without ``directions``: ``--minimize``/``--maximize``, else
    ``"min"`` when the name contains fid, kid, kl, loss, distance or error, else ``"max"``."""
    if name in set(minimize):
        return "min"
    if name in set(maximize):
        return "max"
    return "min" if any(token in name.lower() for token in LOWER_IS_BETTER) else "max"


def resolve_directions(
    runs: Sequence[Run], names: Iterable[str], minimize: Iterable[str] = (), maximize: Iterable[str] = ()
) -> tuple[dict[str, str | None], list[str]]:
    """Each metric's direction (``"max"``, ``"min"`` or None: no better side) from the runs'
    recorded ``directions``, with warnings where records disagree, where a flag contradicts the
    record, or where there is no record and the direction is a fallback."""
    minimize, maximize = set(minimize), set(maximize)
    out: dict[str, str | None] = {}
    warnings = []
    for m in names:
        recorded = {r.summary["directions"][m] for r in runs if m in (r.summary.get("directions") or {})}
        flag = "min" if m in minimize else "max" if m in maximize else None
        if len(recorded) > 1:
            out[m] = None
            warnings.append(
                f"metric {m}: the run records disagree on its direction "
                f"({', '.join(sorted(map(str, recorded)))}): shown without a best or a test"
            )
        elif recorded:
            out[m] = recorded.pop()
            if flag and flag != out[m]:
                warnings.append(f"metric {m}: --{'minimize' if flag == 'min' else 'maximize'} ignored, "
                                f"the evaluator declares {out[m] or 'no direction'}")  # fmt: skip
        else:
            out[m] = metric_direction(m, minimize, maximize)
            how = "from --minimize/--maximize" if flag else "guessed from its name"
            warnings.append(
                f"metric {m}: no direction in the run records (written before they had one): {out[m]} {how}; "
                "pass --minimize or --maximize to set it"
            )
    return out, warnings


# ---------------------------------------------------------------------------------------------
# groups and their statistics
# ---------------------------------------------------------------------------------------------
@dataclass
class MetricStats:
    n: int
    mean: float
    std: float  # sample standard deviation (ddof = 1); NaN for a single value
    best: float | None  # None when the metric has no direction
    ci_low: float = math.nan  # 95 % BCa bootstrap interval of the mean
    ci_high: float = math.nan


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
    notes: list[str] = field(default_factory=list)  # config differences, not unfair by themselves

    @property
    def n(self) -> int:
        return len(self.runs)

    @property
    def failure_rate(self) -> float:
        return (self.diverged + self.failed) / self.n

    @property
    def name(self) -> str:
        return " / ".join(self.key)


def metric_stats(
    values: Sequence[float], direction: str | None, seed: int = 0, confidence: float = 0.95
) -> MetricStats:
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else math.nan
    best = None if direction is None else (min(values) if direction == "min" else max(values))
    low, high = bootstrap_ci(values, confidence=confidence, seed=seed)
    return MetricStats(len(values), mean, std, best, low, high)


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


def _sample_count(run: Run) -> Any:
    """Generated samples per evaluation: ``evaluator.num_samples`` (``eval.num_samples`` in runs
    made before the evaluator config group)."""
    count = run.value("evaluator.num_samples")
    return count if count is not None else run.value("eval.num_samples")


def _mixed(runs: Sequence[Run], what: str, values: Iterable[Any]) -> str | None:
    distinct = sorted({_label(v) for v in values})
    return f"mixes {what}: {', '.join(distinct)}" if len(distinct) > 1 else None


def _flatten(node: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(node, dict):
        out: dict[str, str] = {}
        for k, v in node.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): json.dumps(node, sort_keys=True, default=str)}


def config_differences(runs: Sequence[Run], section: str) -> dict[str, list[str]]:
    """The keys of config section ``section`` whose resolved values differ between ``runs`` (those
    with a config.yaml), with their distinct values."""
    flat = []
    for r in runs:
        if r.config is None:
            continue
        node = OmegaConf.select(r.config, section, default=None, throw_on_missing=False)
        try:
            container = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
        except Exception:  # noqa: BLE001 (an interpolation that does not resolve outside Hydra)
            container = OmegaConf.to_container(node, resolve=False)
        flat.append(_flatten(container))
    keys = sorted({k for f in flat for k in f})
    diffs = {}
    for k in keys:
        values = sorted({f.get(k, "(absent)") for f in flat})
        if len(values) > 1:
            diffs[k] = values
    return diffs


def _short(value: str) -> str:
    """A config value (JSON text) for a warning: floats to 4 significant digits."""
    try:
        v = json.loads(value)
    except ValueError:
        return value
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list) and all(isinstance(x, float) for x in v):
        return "[" + ", ".join(f"{x:.4g}" for x in v) + "]"
    return value


def _describe_differences(section: str, diffs: dict[str, list[str]]) -> str:
    parts = []
    for k, values in list(diffs.items())[:3]:
        shown = ", ".join(map(_short, values)) if len(values) <= 3 else f"{len(values)} values"
        parts.append(f"{k or section}: {shown}")
    more = f"; {len(diffs) - 3} more keys" if len(diffs) > 3 else ""
    first = next(iter(diffs))
    split = f"{section}.{first}" if first else section
    return f"mixes {section} configs ({'; '.join(parts)}{more}): split it with --by …,{split} unless it is a search"


def summarize(
    groups: dict[tuple[str, ...], list[Run]],
    directions: dict[str, str | None] | None = None,
    seed: int = 0,
) -> list[GroupStats]:
    """Counts, failure rate and per-metric statistics (over the completed runs) of each group."""
    directions = directions or {}
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
            direction = directions[m] if m in directions else metric_direction(m)
            stats.metrics[m] = metric_stats(values, direction, seed)
        walls = [float(r.summary["wall_seconds"]) for r in completed if "wall_seconds" in r.summary]
        stats.wall_seconds = statistics.fmean(walls) if walls else math.nan
        checks = [
            _mixed(runs, "datasets", (r.value("dataset") for r in runs)),
            _mixed(runs, "iteration budgets", (r.budget() for r in runs)),
            _mixed(runs, "evaluation sample counts", (_sample_count(r) for r in runs)),
        ]
        stats.warnings = [c for c in checks if c]
        for section in CONFIG_SECTIONS:
            diffs = config_differences(runs, section)
            if diffs:
                stats.notes.append(_describe_differences(section, diffs))
        out.append(stats)
    return out


# ---------------------------------------------------------------------------------------------
# per-dataset panels: significance and budget curves
# ---------------------------------------------------------------------------------------------
def _short_key(s: GroupStats, by: Sequence[str]) -> str:
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
    """The pairwise tests of one metric on one dataset."""

    metric: str
    dataset: str
    direction: str
    tests: list[PairTest]


def significance(
    stats: Sequence[GroupStats], by: Sequence[str], directions: dict[str, str | None], alpha: float = ALPHA
) -> tuple[list[Significance], list[str]]:
    """Holm-corrected pairwise Mann–Whitney tests of each metric with a direction, between the
    groups of each dataset (their completed runs), and a caveat per group with too few runs."""
    out, caveats = [], []
    for dataset, members in panels(stats, by).items():
        if len(members) < 2:
            continue
        few = []
        for m, direction in directions.items():
            if direction is None:
                continue
            groups = {}
            for s, runs in members:
                values = [r.final_metrics()[m] for r in runs if r.status == "completed" and m in r.final_metrics()]
                if values:
                    groups[_short_key(s, by)] = values
                    if len(values) < MIN_RUNS_FOR_TESTS:
                        few.append((_short_key(s, by), len(values)))
            if len(groups) >= 2:
                out.append(Significance(m, dataset, direction, pairwise_mann_whitney(groups, direction, alpha)))
        for name, n in sorted(set(few)):
            caveats.append(
                f"{dataset}: group {name} has {n} completed run(s), fewer than {MIN_RUNS_FOR_TESTS}: a test against "
                f"a group of the same size cannot give p below {min_two_sided_p(n, n):.2g}, so 'not significant' "
                "says little"
            )
    return out, caveats


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
    group's runs (a diverged or failed run is a trial without a value, ranked worst)."""
    out = []
    for m, direction in directions.items():
        if direction is None:
            continue
        for dataset, members in panels(stats, by).items():
            for s, runs in members:
                pool: list[float | None] = [r.final_metrics().get(m) if r.status == "completed" else None for r in runs]
                if all(v is None for v in pool):
                    continue
                points = best_of_k(pool, direction)
                out.append(BudgetCurve(m, dataset, _short_key(s, by), len(pool), sum(v is None for v in pool), points))
    return out


# ---------------------------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------------------------
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
            name = _short_key(s, by)
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


# ---------------------------------------------------------------------------------------------
# plots
# ---------------------------------------------------------------------------------------------
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


def _figure(n_panels: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(n_panels, 3)
    rows = math.ceil(n_panels / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.2 * rows), squeeze=False, layout="constrained")
    return plt, fig, [ax for row in axes for ax in row]


def _colours(plt, names: Sequence[str]) -> dict[str, Any]:
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    return {name: cmap(i % cmap.N) for i, name in enumerate(names)}


def _finish(plt, fig, axes, used: int, title: str, path: Path) -> Path:
    for ax in axes[used:]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_metric(path: Path, metric: str, stats: Sequence[GroupStats], by: Sequence[str]) -> Path | None:
    """One PNG: ``metric`` against iterations, one panel per dataset, a line per group (the mean over
    its runs) with a ±1 std band."""
    data = {}
    for dataset, members in panels(stats, by).items():
        lines = []
        for s, runs in members:
            xs, means, stds = band([r.curve(metric) for r in runs])
            if xs:
                lines.append((_short_key(s, by), len(runs), xs, means, stds))
        if lines:
            data[dataset] = lines
    if not data:
        return None
    plt, fig, axes = _figure(len(data))
    colours = _colours(plt, sorted({line[0] for lines in data.values() for line in lines}))
    for ax, (dataset, lines) in zip(axes, data.items()):
        for name, n, xs, means, stds in lines:
            c = colours[name]
            ax.plot(xs, means, color=c, label=f"{name} (n={n})", marker="." if len(xs) < 30 else None)
            ax.fill_between(xs, [m - d for m, d in zip(means, stds)], [m + d for m, d in zip(means, stds)],
                            color=c, alpha=0.2)  # fmt: skip
        ax.set_title(dataset, fontsize=9)
        ax.set_xlabel("iteration")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _finish(plt, fig, axes, len(data), f"{metric}: mean over runs, band ±1 std", path)


def plot_budget(path: Path, metric: str, direction: str, curves: Sequence[BudgetCurve]) -> Path | None:
    """One PNG: the expected best ``metric`` of k trials against k, one panel per dataset, a line per
    group with its 25–75 % band (Lucic et al. 2018, Fig. 4)."""
    mine = [c for c in curves if c.metric == metric]
    if not mine:
        return None
    datasets = sorted({c.dataset for c in mine})
    plt, fig, axes = _figure(len(datasets))
    colours = _colours(plt, sorted({c.group for c in mine}))
    for ax, dataset in zip(axes, datasets):
        for c in (c for c in mine if c.dataset == dataset):
            ks = [p.k for p in c.points if not math.isnan(p.mean)]
            pts = [p for p in c.points if not math.isnan(p.mean)]
            colour = colours[c.group]
            label = f"{c.group} (N={c.n_trials}" + (f", {c.n_failed} failed)" if c.n_failed else ")")
            ax.plot(ks, [p.mean for p in pts], color=colour, label=label, marker="." if len(ks) < 30 else None)
            ax.fill_between(ks, [p.q_low for p in pts], [p.q_high for p in pts], color=colour, alpha=0.2, step=None)
        ax.set_title(dataset, fontsize=9)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_xlabel("number of trials k")
        ax.set_ylabel(f"best {metric} of k {ARROW[direction]}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _finish(plt, fig, axes, len(datasets), f"{metric}: expected best of k trials, band 25–75 %", path)


# ---------------------------------------------------------------------------------------------
# the comparison
# ---------------------------------------------------------------------------------------------
@dataclass
class Comparison:
    """The result of :func:`compare`: the groups' statistics, the tests, the budget curves, the
    warnings and the files written."""

    by: list[str]
    stats: list[GroupStats]
    warnings: list[str]
    table: str
    files: list[Path]
    directions: dict[str, str | None] = field(default_factory=dict)
    significance: list[Significance] = field(default_factory=list)
    budget: list[BudgetCurve] = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)


def compare(
    paths: Sequence[Path | str],
    by: Sequence[str] = DEFAULT_BY,
    out: Path | str | None = None,
    plots: bool = True,
    minimize: Iterable[str] = (),
    maximize: Iterable[str] = (),
    seed: int = 0,
) -> Comparison:
    """Find, validate, group and summarise the runs under ``paths``; write the tables and plots into
    ``out`` (default: ``PATH/comparison`` for one PATH, else ``./comparison``). ``seed`` seeds the
    bootstrap intervals."""
    by = [k.strip() for k in by if k.strip()]
    if not by:
        raise CompareError("--by needs at least one key, e.g. --by loss,regularizer")
    runs, unfinished, left_out = find_runs(paths)
    warnings = list(left_out)
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
        malformed = sum("left out" in p for p in left_out)
        raise CompareError(
            f"no finished runs under {', '.join(map(str, paths))}"
            + (f" ({malformed} summary.json file(s) malformed: {left_out[0]})" if malformed else "")
            + ": ganbench-compare reads the summary.json that ganbench-train writes into each run directory when "
            "the run ends (runs/… or multirun/…)"
        )
    groups = group_runs(runs, by)
    names = sorted({m for r in runs if r.status == "completed" for m in r.final_metrics()})
    directions, direction_warnings = resolve_directions(runs, names, minimize, maximize)
    warnings += direction_warnings
    stats = summarize(groups, directions, seed)
    for s in stats:
        warnings += [f"group {s.name} {w}: the comparison is unfair" for w in s.warnings]
        warnings += [f"group {s.name} {n}" for n in s.notes]
    tests, caveats = significance(stats, by, directions)
    curves = budget_curves(stats, by, directions)
    table = markdown_table(stats, by, directions)
    sig_table = significance_table(stats, by, tests, directions)

    out = Path(out) if out is not None else (Path(paths[0]) / "comparison" if len(paths) == 1 else Path("comparison"))
    try:
        out.mkdir(parents=True, exist_ok=True)
        files = [write_csv(out / "comparison.csv", stats, by)]
        if tests:
            files.append(write_significance_csv(out / "significance.csv", tests))
        if curves:
            files.append(write_budget_csv(out / "budget.csv", curves))
        if plots:
            for m in metric_names(stats):
                png = plot_metric(out / f"{m}.png", m, stats, by)
                if png is not None:
                    files.append(png)
            for m in metric_names(stats):
                if directions.get(m) is not None:
                    png = plot_budget(out / f"budget_{m}.png", m, directions[m], curves)
                    if png is not None:
                        files.append(png)
        for r in runs:
            warnings += [f"{p}: row left out" for p in r.problems]
        md = _markdown(paths, runs, by, table, sig_table, caveats, warnings, files)
        (out / "comparison.md").write_text(md)
    except OSError as err:
        raise CompareError(f"cannot write the comparison into {out} ({err}): choose another --out") from None
    files.insert(0, out / "comparison.md")
    return Comparison(by, stats, warnings, table, files, directions, tests, curves, caveats, left_out)


def _markdown(paths, runs, by, table, sig_table, caveats, warnings, files) -> str:
    md = [
        f"# Comparison of {len(runs)} runs by {', '.join(by)}",
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


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="ganbench-compare",
        description="Compare ganbench runs: per group, mean ± std, a 95% bootstrap interval and the best of each "
        "final metric, failure rates, pairwise Mann-Whitney tests (Holm), budget curves (expected best of k "
        "trials) and metric-vs-iteration plots, one panel per dataset.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="+", type=Path, help="run directories, multirun directories or folders above them")
    p.add_argument(
        "--by",
        type=_split,
        default=list(DEFAULT_BY),
        help="comma-separated grouping keys: config-group choices (loss, regularizer, dataset …; loss and "
        "regularizer name the objective as it was run), summary fields or config keys (default: loss,regularizer)",
    )
    p.add_argument("--out", type=Path, default=None, help="output directory (default: PATH/comparison)")
    p.add_argument("--no-plots", action="store_true", help="write the tables only")
    p.add_argument(
        "--minimize", type=_split, default=[], help="metrics where lower is better, for run records without directions"
    )
    p.add_argument(
        "--maximize", type=_split, default=[], help="metrics where higher is better, for run records without directions"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap intervals (default 0)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        result = compare(args.paths, args.by, args.out, not args.no_plots, args.minimize, args.maximize, args.seed)
    except CompareError as err:
        print(f"ganbench-compare: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ganbench-compare: interrupted", file=sys.stderr)
        return 130
    for w in result.warnings:
        print(f"ganbench-compare: warning: {w}", file=sys.stderr)
    for c in result.caveats:
        print(f"ganbench-compare: caveat: {c}", file=sys.stderr)
    print(result.table)
    print("\nwrote " + ", ".join(str(f) for f in result.files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
