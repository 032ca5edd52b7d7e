"""Support for Hydra's launchers (``hydra/launcher=joblib|submitit_local|submitit_slurm``).

- ``${ganbench.tasks_per_node:...}`` and ``${ganbench.gpus_per_node:...}`` turn the accelerator
  config into SLURM resources (one task per device, GPUs only for a GPU accelerator), so
  ``conf/hydra/launcher/submitit_slurm.yaml`` follows ``accelerator=...``.
- :func:`limit_job_threads` gives each job of a parallel local sweep its share of the CPU cores:
  ``n_jobs`` processes each running torch with every core is many times slower than one job at a
  time.

:func:`ganbench.bootstrap.setup` registers the resolvers.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import torch
from omegaconf import DictConfig, ListConfig, OmegaConf

log = logging.getLogger("ganbench")

JOBLIB_TARGET = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
GPU_ACCELERATORS = ("gpu", "cuda")


def device_count(devices: Any) -> int:
    """The number of devices in a Lightning ``devices`` value (``4``, ``"4"`` or ``[0, 1]``)."""
    if isinstance(devices, (list, tuple, ListConfig)):
        count = len(devices)
    elif isinstance(devices, int) or (isinstance(devices, str) and devices.strip().isdigit()):
        count = int(devices)
    else:
        count = 0
    if count < 1:
        raise ValueError(
            f"a SLURM job needs an explicit device count, got accelerator.devices={devices!r}: "
            "set accelerator.devices=N (GPUs or processes per node)"
        )
    return count


def tasks_per_node(devices: Any) -> int:
    """SLURM tasks per node: Lightning on SLURM expects one task per device."""
    return device_count(devices)


def gpus_per_node(accelerator: Any, devices: Any) -> int | None:
    """SLURM GPUs per node: the device count for a GPU accelerator, none otherwise."""
    if str(accelerator).lower() in GPU_ACCELERATORS:
        return device_count(devices)
    if str(accelerator).lower() == "auto":
        raise ValueError(
            "a SLURM job needs to know whether to reserve GPUs, got accelerator.accelerator='auto': "
            "use accelerator=gpu or accelerator=cpu"
        )
    return None


def usable_cpus() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. a SLURM or container limit)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def parallel_jobs(n_jobs: int, cpus: int) -> int:
    """How many jobs joblib runs at once for ``n_jobs`` (-1 = one per core, -2 = all but one, …)."""
    if n_jobs == 0:
        raise ValueError("hydra.launcher.n_jobs=0 runs nothing: use a positive number or -1 (one job per core)")
    return n_jobs if n_jobs > 0 else max(1, cpus + 1 + n_jobs)


def threads_per_job(n_jobs: int, cpus: int) -> int:
    """Torch threads for each of the jobs run at once: the cores shared out, at least one."""
    return max(1, cpus // min(parallel_jobs(n_jobs, cpus), cpus))


def limit_job_threads(hydra_cfg: DictConfig | None) -> int | None:
    """Under the joblib launcher, set torch's thread count to this job's share of the cores.

    Returns the thread count set, or None for other launchers (which run one job per process or
    allocation, so torch's default applies).
    """
    launcher = OmegaConf.select(hydra_cfg, "launcher", default=None) if hydra_cfg is not None else None
    if launcher is None or launcher.get("_target_") != JOBLIB_TARGET:
        return None
    n_jobs = int(launcher.get("n_jobs", -1))
    threads = threads_per_job(n_jobs, usable_cpus())
    torch.set_num_threads(threads)
    log.info(
        "joblib launcher: %d jobs at once on %d cores, %d torch thread(s) per job",
        parallel_jobs(n_jobs, usable_cpus()),
        usable_cpus(),
        threads,
    )
    return threads
