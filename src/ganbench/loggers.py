"""The run's loggers: instantiate them from ``cfg.logger``, and ganbench's CSV logger whose
``metrics.csv`` survives a resume.

Every logger gets ``save_dir`` = the run directory. A logger factory that takes a ``run_cfg``
argument (like :func:`ganbench.wandb_support.wandb_logger`) also gets the run's composed config,
to name, tag and describe the run.
"""

from __future__ import annotations

import csv
import inspect
from pathlib import Path
from typing import Any

from hydra.utils import get_object, instantiate
from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import CSVLogger as LightningCSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from omegaconf import DictConfig

from ganbench._compat import appending_csv_experiment


def _wants_run_cfg(target: str) -> bool:
    obj = get_object(target)
    try:
        return "run_cfg" in inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return False


def make_loggers(cfg: DictConfig, run_dir: Path) -> list[Any]:
    """One logger per entry of ``cfg.logger`` (``csv``, ``tensorboard``, ``wandb`` …)."""
    loggers = []
    for spec in (cfg.get("logger") or {}).values():
        if _wants_run_cfg(str(spec._target_)):
            # passed at call time: merged into the spec, the config's interpolations would break
            factory = instantiate(spec, _partial_=True, save_dir=str(run_dir))
            loggers.append(factory(run_cfg=cfg))
        else:
            loggers.append(instantiate(spec, save_dir=str(run_dir)))
    return loggers


class CSVLogger(LightningCSVLogger):
    """``metrics.csv`` in the run directory, appended to when a run resumes.

    Use with ``name=""`` and ``version=""`` so the file lands directly in ``save_dir``.
    """

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        return appending_csv_experiment(self)


def _complete_row(row: dict[str, Any], fields: list[str]) -> bool:
    """A row with every column of the header and an integer step: not one cut off by a crash."""
    if None in row or any(row.get(f) is None for f in fields):
        return False
    try:
        return float(row["step"]).is_integer()
    except (KeyError, TypeError, ValueError):
        return False


def truncate_metrics(path: Path, last_iteration: int) -> int:
    """Keep the complete rows of a ``metrics.csv`` logged at or before ``last_iteration`` (those a
    resumed run does not log again); return how many rows were dropped. A partial row (a write
    cut off by a crash) is dropped too."""
    path = Path(path)
    if not path.is_file():
        return 0
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames or [], list(reader)
    kept = [r for r in rows if _complete_row(r, fields) and int(float(r["step"])) <= last_iteration]
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(kept)
    tmp.replace(path)
    return len(rows) - len(kept)
