"""The run's loggers: instantiate them from ``cfg.logger``, and ganbench's CSV logger whose
``metrics.csv`` survives a resume.

Every logger gets ``save_dir`` = the run directory. A logger factory that takes a ``run_cfg``
argument (like :func:`ganbench.wandb_support.wandb_logger`) also gets the run's composed config,
to name, tag and describe the run.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path
from typing import Any

from hydra.utils import get_object, instantiate
from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import CSVLogger as LightningCSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from omegaconf import DictConfig

from ganbench._compat import appending_csv_experiment
from ganbench.metrics_csv import read_rows


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


def truncate_metrics(path: Path, last_iteration: int) -> int:
    """Keep the whole rows of a ``metrics.csv`` (:func:`ganbench.metrics_csv.parse_row`) logged at
    or before ``last_iteration`` (those a resumed run does not log again), as they were written;
    return how many rows were dropped. A partial row (a write cut off by a crash) is dropped too."""
    path = Path(path)
    if not path.is_file():
        return 0
    header, rows = read_rows(path)
    if not header:
        return 0
    kept = [
        text for _, text, values, _ in rows if values is not None and values.get("step", math.inf) <= last_iteration
    ]
    with open(path, newline="") as f:
        first = f.readline()
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        f.write(first + "".join(kept))
    tmp.replace(path)
    return len(rows) - len(kept)
