"""Instantiate the run's loggers from ``cfg.logger``.

Every logger gets ``save_dir`` = the run directory. A logger factory that takes a ``run_cfg``
argument (like :func:`ganbench.wandb_support.wandb_logger`) also gets the run's composed config,
to name, tag and describe the run.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from hydra.utils import get_object, instantiate
from omegaconf import DictConfig


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
