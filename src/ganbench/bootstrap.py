"""The process set-up of ganbench's entry points: OmegaConf resolvers, warning filters, log filters.

Importing ganbench (or any of its modules) changes none of these; :func:`setup` does, once per
process. It is called by ``ganbench-train`` before Hydra composes the config, by
:func:`ganbench.config.compose` and by :func:`ganbench.load_run`. Sweep jobs that run in other
processes (``hydra/launcher=joblib|submitit_*``) set themselves up through :class:`SetupCallback`,
a Hydra callback that ``conf/train.yaml`` lists: the launcher pickles it into every worker, and
unpickling it calls :func:`setup` there before the worker resolves the job's directory.

What :func:`setup` installs:

- resolvers ``ganbench_run_dir``, ``ganbench_job_dir``, ``ganbench_mul``, ``ganbench_objective``,
  ``ganbench_ceil_div`` (used in conf/train.yaml and the experiment presets) and
  ``ganbench.tasks_per_node``, ``ganbench.gpus_per_node`` (conf/hydra/launcher);
- ``ignore`` filters for Lightning and Hydra warnings that do not apply to ganbench's own loop
  (:data:`IGNORED_WARNINGS`);
- a filter on Lightning's rank-zero loggers that drops its tips and its "stopped: max_steps
  reached" line, a count of optimiser steps rather than iterations (:class:`DropAdverts`).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import OmegaConf

from ganbench.counts import ceil_div

IGNORED_WARNINGS: tuple[str, ...] = (
    # Lightning messages that do not apply to ganbench's own loop and logging
    r".*exists and is not empty.*",  # the run directory already holds config.yaml
    r".*LeafSpec.*",
    # image datamodules restore their data position from the checkpoint themselves (IterationSampler)
    r".*your dataloader is not resumable.*",
    r".*all_gather is deprecated.*",
    # on a machine with SLURM's tools, outside a job: ganbench starts and requeues SLURM jobs itself
    # (ganbench.slurm, hydra/launcher=submitit_slurm), never through `srun python …`
    r"(?s).*The `srun` command is available on your system but is not used.*",
    # ganbench's conf/hydra/launcher/{joblib,submitit_local,submitit_slurm}.yaml keep the plugins' names, so
    # Hydra validates them against the plugins' own schemas (what we want: a mistyped key fails). Hydra
    # announces that matching with a deprecation warning on every run; it is expected here.
    r"(?s).*'hydra/launcher/(joblib|submitit_local|submitit_slurm)' is validated",
)
FILTERED_LOGGERS: tuple[str, ...] = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")


class DropAdverts(logging.Filter):
    """Lightning's tips, and its "`Trainer.fit` stopped: `max_steps=…` reached" (a count of optimiser
    steps, not iterations, printed also after an interrupt): ganbench reports the run itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return "💡" not in message and "`Trainer.fit` stopped" not in message


def _mul(a: Any, b: Any) -> int:
    """An integer product, e.g. a batch of 100 PacGAN packs: ``${ganbench_mul:100,${model.discriminator.packing}}``."""
    return int(a) * int(b)


def _run_dir(resume: Any, default: Any) -> Any:
    """hydra.run.dir: the directory given by ``resume=...``, else the default pattern."""
    return resume or default


def _job_dir(default: str) -> str:
    """The last part of a run or sweep directory: the SLURM job id on a cluster (stable across
    requeues), else the time.

    Registered with ``use_cache=True`` (:data:`CACHED_RESOLVERS`): a submitit job rebuilds its
    config from the submitter's, and Hydra copies the submitter's resolver cache into it, so the
    job reuses the sweep directory the submitter announced instead of naming one after its own
    SLURM job (which scattered a sweep over ``multirun/slurm-<array>_<task>``)."""
    from ganbench.slurm import run_dir_name

    return run_dir_name(default)


def _objective_dir_name(group: str, *, _root_: Any) -> str:
    """The directory name of what the loss (or regularizer) group resolves to: see ganbench.identity."""
    from ganbench.identity import objective_dir_name

    return objective_dir_name(group, _root_=_root_)


def _tasks_per_node(devices: Any) -> int:
    from ganbench.launchers import tasks_per_node

    return tasks_per_node(devices)


def _gpus_per_node(accelerator: Any, devices: Any) -> int | None:
    from ganbench.launchers import gpus_per_node

    return gpus_per_node(accelerator, devices)


RESOLVERS: dict[str, Callable[..., Any]] = {
    "ganbench_run_dir": _run_dir,
    "ganbench_job_dir": _job_dir,
    "ganbench_mul": _mul,
    "ganbench_objective": _objective_dir_name,
    "ganbench_ceil_div": ceil_div,
    "ganbench.tasks_per_node": _tasks_per_node,
    "ganbench.gpus_per_node": _gpus_per_node,
}


CACHED_RESOLVERS: frozenset[str] = frozenset({"ganbench_job_dir"})


def setup() -> None:
    """Register ganbench's OmegaConf resolvers and install its warning and log filters.

    Idempotent: a second call changes nothing (resolvers are replaced by the same functions, an
    identical warning filter is not added twice, the log filter is added once per logger).
    """
    for name, resolver in RESOLVERS.items():
        OmegaConf.register_new_resolver(name, resolver, replace=True, use_cache=name in CACHED_RESOLVERS)
    for message in IGNORED_WARNINGS:
        warnings.filterwarnings("ignore", message=message)
    for name in FILTERED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropAdverts) for f in logger.filters):
            logger.addFilter(DropAdverts())


def _set_up_copy() -> SetupCallback:
    setup()
    return SetupCallback()


class SetupCallback(Callback):
    """Hydra callback that runs :func:`setup` in every process a sweep job runs in.

    Hydra's joblib and submitit launchers pickle the callbacks with the job; unpickling this one
    calls :func:`setup` in the worker, before the worker resolves ``hydra.sweep.subdir`` (which
    uses ``${ganbench_objective:...}``). :meth:`on_job_start` calls it again in the job itself.
    """

    def __init__(self) -> None:
        setup()

    def __reduce__(self) -> tuple[Callable[[], SetupCallback], tuple[()]]:
        return _set_up_copy, ()

    def on_job_start(self, config: Any, **kwargs: Any) -> None:
        setup()
