"""``ganbench-train``: train one GAN (or, with ``-m``, a sweep of them) from the Hydra config.

ganbench-train loss=hinge dataset=grid seed=3 iterations=500
ganbench-train -m loss=minimax,nonsaturating seed=0,1
ganbench-train resume=runs/ring/hinge/2026-11-23_10-00-00
"""

from __future__ import annotations

import errno
import logging
import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from ganbench.bootstrap import setup
from ganbench.composition_errors import COMPOSITION_ERRORS, composition_problem
from ganbench.config import choices
from ganbench.config import resolved as resolved_config
from ganbench.errors import ConfigError, one_line, requested_devices
from ganbench.experiment import RecordWriteError, describe, returned_value, run, worst_value
from ganbench.identity import objective
from ganbench.launchers import limit_job_threads
from ganbench.paths import conf_dir
from ganbench.preflight import command_line_problem, refuse, remove_new_run_directory
from ganbench.rundir import RunDirBusyError, resume_command
from ganbench.slurm import requeue, requeue_signals
from ganbench.summary import SUMMARY_NAME, RunRecorder

log = logging.getLogger("ganbench")
DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO)
SIGNAL_EXIT = {"SIGINT": 130, "SIGTERM": 143, "SIGUSR1": 138, "SIGUSR2": 140}


def refuse_duplicate_sweeps(cfg: DictConfig) -> None:
    """Lightning starts DDP worker processes by re-running the command line; under ``-m`` that
    would start a second sweep in every worker. SLURM-launched ranks and
    ``ddp_spawn`` do not re-run the command, so they are fine."""
    acc = cfg.accelerator
    strategy = str(acc.get("strategy", "auto"))
    n = requested_devices(acc.get("devices", 1)) or 1
    num_nodes = int(acc.get("num_nodes", 1))
    under_slurm = "SLURM_NTASKS" in os.environ and int(os.environ["SLURM_NTASKS"]) > 1
    if strategy.startswith("ddp") and "spawn" not in strategy and n * num_nodes > 1 and not under_slurm:
        raise ConfigError(
            f"accelerator.strategy={strategy} with {n * num_nodes} processes inside a Hydra multirun (-m): Lightning "
            "starts each extra process by re-running this command line, which would launch a duplicate sweep. "
            "Use accelerator.strategy=ddp_spawn for -m sweeps on one machine, or hydra/launcher=submitit_slurm "
            "(one SLURM task per GPU), or run the jobs one by one without -m."
        )


def _record_refusal(cfg: DictConfig, run_dir: Path, err: ConfigError) -> None:
    """In a sweep, a job refused for a user error leaves a ``failed`` record, so the sweep's table
    counts it; never in a directory that already holds another run's record."""
    if (run_dir / SUMMARY_NAME).exists():
        return
    recorder = RunRecorder(run_dir)
    names = choices(cfg)
    try:
        names_run = objective(cfg, names)
    except Exception:  # the loss or regularizer config is itself what was refused
        names_run = {}
    try:  # the resolved config travels in the record, so that ganbench-compare can still group the job
        resolved = resolved_config(cfg)
    except Exception:
        resolved = None
    recorder.start(seed=int(cfg.seed), choices=names, objective=names_run, config=resolved)
    recorder.failed(f"ConfigError: {err}")


def main() -> None:
    """``ganbench-train``: set up the process (resolvers, warning filters: :func:`ganbench.bootstrap.setup`),
    then let Hydra parse the command line and run :func:`train` (once, or per job of a sweep)."""
    setup()
    problem = command_line_problem(sys.argv[1:])
    if problem:
        refuse(problem)
    # Hydra prints a composition error (a typo, a wrong type, a missing option) over several lines
    # unless HYDRA_FULL_ERROR is set, when it raises it: ganbench reports it in one line instead.
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        train()
    except KeyboardInterrupt:  # Ctrl-C before a run began, or in a sweep (each job has recorded itself)
        print("ganbench: interrupted", file=sys.stderr, flush=True)
        sys.exit(SIGNAL_EXIT["SIGINT"])
    except COMPOSITION_ERRORS as err:
        problem = composition_problem(err, sys.argv[1:])
        if problem is None:
            raise
        refuse(problem)


@hydra.main(config_path=str(conf_dir()), config_name="train", version_base="1.3")
def train(cfg: DictConfig) -> float | None:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    limit_job_threads(hydra_cfg)
    try:
        if multirun:
            refuse_duplicate_sweeps(cfg)
        summary = run(cfg, run_dir)
    except ConfigError as err:
        print(f"ganbench: {err}", file=sys.stderr, flush=True)
        remove_new_run_directory(run_dir)
        if not multirun:
            sys.exit(2)
        if not isinstance(err, RunDirBusyError):
            _record_refusal(cfg, run_dir, err)
        return _worst(hydra_cfg)
    except RecordWriteError as err:  # a full disk: one line, not a traceback
        print(f"ganbench: {err.strerror}", file=sys.stderr, flush=True)
        if not multirun:
            sys.exit(1)
        return _worst(hydra_cfg)
    except OSError as err:
        if err.errno not in DISK_ERRORS:
            raise
        print(f"ganbench: {one_line(err)} (writing in {run_dir})", file=sys.stderr, flush=True)
        if not multirun:
            sys.exit(1)
        return _worst(hydra_cfg)
    except Exception:
        if not multirun:
            raise
        # In a sweep, one failing job must not stop the others: summary.json says "failed", and a
        # hyperparameter search counts the trial at the worst value.
        log.exception("job %s failed; the sweep goes on", hydra_cfg.job.num)
        return _worst(hydra_cfg)
    if rank_zero_only.rank != 0:
        return None
    print(describe(summary, cfg), flush=True)
    if summary["status"] == "interrupted":
        signame = summary.get("signal") or "SIGINT"
        if signame in {sig.name for sig in requeue_signals()}:
            # the cluster's time-limit or preemption warning: the same job comes back and resumes here
            requeue(signame, say=lambda line: print(line, flush=True))
            sys.exit(SIGNAL_EXIT.get(signame, 1))
        print(f"  resume with: {resume_command(Path(summary['run_dir']))}", flush=True)
        if signame == "SIGINT" and multirun:
            raise KeyboardInterrupt  # Ctrl-C stops the whole sweep
        sys.exit(SIGNAL_EXIT.get(signame, 1))
    return returned_value(cfg, summary)


def _worst(hydra_cfg: DictConfig) -> float:
    """The worst value for the sweeper's direction (a search sweeper records a failed trial so)."""
    return worst_value(OmegaConf.select(hydra_cfg, "sweeper.direction", default="maximize") or "maximize")


if __name__ == "__main__":
    main()
