"""``hydra/launcher=submitit_slurm``: hydra-submitit-launcher's SLURM launcher, with a bounded wait
for jobs that die without a result, which are then recorded as ``failed``.

The plugin's own launcher waits for each job's result file through submitit. When a job dies
without one (killed, out of memory, node failure), submitit learns it from ``sacct``: with SLURM
accounting the sweep ends with an ``UncompletedJobError`` traceback, and without accounting
(``sacct`` unavailable: every state reads ``UNKNOWN``) it waits forever. :class:`SlurmLauncher`
(``hydra_plugins/ganbench_slurm_launcher``: Hydra takes launchers from the ``hydra_plugins``
package only) instead:

- also asks ``squeue``: a job that SLURM no longer lists and that left no result for
  :data:`LOST_JOB_GRACE_S` seconds is given up, accounting or not (a requeued job stays listed,
  as pending, so a requeue is never mistaken for a loss);
- records such a job as ``failed`` in its run directory's ``summary.json`` (the error names the
  SLURM job and its logs), and lets the sweep go on, as ganbench does for a job that fails inside
  Python: the sweeper gets the worst value for that job.

Everything else (submission, requeue on timeout, the job side) is the plugin's.
"""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("ganbench")

LOST_JOB_GRACE_S = 30.0  # a job gone from squeue without a result file, for this long, is lost
POLL_S = 5.0  # between squeue calls for the job waited on


ALIVE_STATES = frozenset(
    {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESIZING",
     "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "SPECIAL_EXIT"}
)  # fmt: skip


def listed_by_squeue(job_id: str) -> bool | None:
    """Whether SLURM still has ``job_id`` queued, running or being requeued; None when ``squeue``
    cannot be asked."""
    try:
        proc = subprocess.run(
            ["squeue", "-h", "-t", "all", "-j", job_id, "-o", "%T"], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:  # "Invalid job id specified": gone from slurmctld's memory
        return False if "Invalid job id" in proc.stderr else None
    return any(state.strip() in ALIVE_STATES for state in proc.stdout.splitlines())


def wait_for_job(job: Any, grace_s: float = LOST_JOB_GRACE_S, poll_s: float = POLL_S) -> bool:
    """Wait until submitit says ``job`` is done (result file, or a final state from ``sacct``), or
    until SLURM has stopped listing it for ``grace_s`` seconds without a result. True when submitit
    saw it end, False when it was given up as lost."""
    gone_since: float | None = None
    while not job.done():
        listed = listed_by_squeue(str(job.job_id))
        if listed is False:
            gone_since = gone_since if gone_since is not None else time.monotonic()
            if time.monotonic() - gone_since >= grace_s:
                return bool(job.done(force_check=True))
        else:
            gone_since = None
        time.sleep(poll_s)
    return True


def job_run_dir(sweep_config: DictConfig) -> Path:
    """The run directory of a sweep job: ``hydra.sweep.dir`` / ``hydra.sweep.subdir``."""
    return Path(str(sweep_config.hydra.sweep.dir)) / str(sweep_config.hydra.sweep.subdir)


def record_lost_job(sweep_config: DictConfig, error: str) -> Path:
    """Mark the run of ``sweep_config`` ``failed`` with ``error``: its ``running`` (or
    ``interrupted``) record, or a new record when the job died before writing one. A finished
    record (completed, diverged, failed) is left as it is. Returns the run directory."""
    from ganbench.config import CHOICE_GROUPS
    from ganbench.identity import objective
    from ganbench.summary import RunRecorder

    run_dir = job_run_dir(sweep_config)
    recorder = RunRecorder(run_dir)
    previous = recorder.previous()
    if previous is not None and previous.status not in ("running", "interrupted"):
        return run_dir
    if previous is None:
        picked = OmegaConf.to_container(sweep_config.hydra.runtime.choices)
        names = {g: str(picked[g]) for g in CHOICE_GROUPS if picked.get(g) is not None}
        try:
            names_run = objective(sweep_config, names)
        except Exception:
            names_run = {}
        run_dir.mkdir(parents=True, exist_ok=True)
        recorder.start(seed=int(sweep_config.seed), choices=names, objective=names_run)
    else:
        recorder.record = previous
    recorder.failed(error)
    return run_dir


def worst_value(config: DictConfig) -> float:
    """The sweeper's worst value (its direction's), returned for a lost job as for a failed one."""
    direction = str(OmegaConf.select(config, "hydra.sweeper.direction", default="maximize") or "maximize")
    return float("inf") if direction.lower().startswith("min") else float("-inf")
