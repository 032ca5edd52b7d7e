"""Finding the runs under the paths given and reading their records, trusting nothing.

A run is a directory with a valid ``summary.json`` (read by :func:`ganbench.summary.read_record`, the
reader every tool shares); its ``config.yaml`` and ``metrics.csv`` (read by
:func:`ganbench.metrics_csv.read_metrics_csv`) are read when present. What cannot be used is
reported with its path and line and left out.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from ganbench.metrics_csv import METRICS_CSV, read_metrics_csv
from ganbench.summary import SUMMARY_NAME, RecordError, is_number, read_record

SUMMARY = SUMMARY_NAME
# Old records (before "info") kept these benchmark facts among the metrics.
NOT_METRICS = frozenset({"num_modes", "num_classes"})
MISSING = "(none)"
MAX_PROBLEMS_PER_FILE = 5
# ganbench-study writes seeds/topK/trial.json next to the seed runs of a search trial.
TRIAL_FILE = "trial.json"
# The evaluation plots a run leaves: plots/samples_NNNNNN.png, NNNNNN the iteration.
SAMPLE_PLOT = re.compile(r"samples_(\d+)\.png")


class CompareError(ValueError):
    """A comparison that cannot be made (no runs, unknown grouping key …), with what to do about it."""


def label(value: Any) -> str:
    """A grouping value as the tables show it (``(none)`` for a run without one)."""
    return MISSING if value is None else str(value)


def read_summary_file(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """``(summary, None)`` for a valid ``summary.json``, else ``(None, "path:line: what is wrong")``."""
    try:
        return read_record(path), None
    except RecordError as err:
        return None, str(err)
    except OSError as err:
        return None, f"{path}: cannot be read ({err})"


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

    def recorded_config(self) -> Any:
        """``config.yaml``, else the resolved config a job refused before it ran keeps in its record."""
        if self.config is None and isinstance(self.summary.get("config"), dict):
            return OmegaConf.create(self.summary["config"])
        return self.config

    def value(self, key: str) -> Any:
        """A grouping value: the recorded objective (loss, regularizer as they were run), else a
        config-group choice, else a summary field, else a config key."""
        objective = self.summary.get("objective") or {}
        if objective.get(key) is not None:
            return objective[key]
        choices = self.summary.get("choices") or {}
        if key in choices:
            return choices[key]
        if key in self.summary and not isinstance(self.summary[key], (dict, list)):
            return self.summary[key]
        config = self.recorded_config()
        if config is not None:
            found = OmegaConf.select(config, key, default=None, throw_on_missing=False)
            if found is not None and not OmegaConf.is_config(found):
                return found
        return None

    def dataset(self) -> str:
        return label(self.value("dataset"))

    def budget(self) -> Any:
        """The planned number of iterations (the config, or the one a refused job keeps in its
        record), else the iterations the summary reports."""
        config = self.recorded_config()
        if config is not None and OmegaConf.select(config, "iterations", default=None) is not None:
            return config.iterations
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

    def trial(self) -> dict[str, Any] | None:
        """The search trial this run is or re-runs (``{"number": …, "params": {key: value}}``): its
        record's ``trial`` (a search run), else the ``trial.json`` that ganbench-study leaves next to
        the seed runs of a trial (``seeds/topK/trial.json``). None when neither says."""
        trial = self.summary.get("trial")
        if isinstance(trial, dict) and isinstance(trial.get("params"), dict):
            return trial
        path = self.path.parent / TRIAL_FILE
        try:
            trial = json.loads(path.read_text()).get("trial") if path.is_file() else None
        except (OSError, ValueError, AttributeError):
            return None
        return trial if isinstance(trial, dict) and isinstance(trial.get("params"), dict) else None

    def sample_plot(self) -> Path | None:
        """The run's last evaluation plot (``plots/samples_NNNNNN.png`` with the largest NNNNNN)."""
        found = []
        for p in (self.path / "plots").glob("samples_*.png"):
            match = SAMPLE_PLOT.fullmatch(p.name)
            if match and p.is_file():
                found.append((int(match.group(1)), p))
        return max(found)[1] if found else None

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
        if not p.is_dir():
            raise CompareError(f"{p} is a file, not a directory: give a run directory or a multirun directory")
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
