"""Cluster preemption: deterministic run directories and requeue after a graceful checkpoint.

A SLURM job that hits its time limit or is preempted gets a warning signal first, then SIGTERM and,
after a grace period, SIGKILL. ganbench turns the warning into a clean stop:

1. :class:`~ganbench.training.callbacks.GracefulInterrupt` also listens to the *requeue signals*
   (below). The run stops at the end of the current iteration, saves ``last.ckpt`` and writes
   ``summary.json`` with status ``interrupted``.
2. :func:`requeue` then puts the job back in the queue: by handing the signal back to submitit's
   own handler (``hydra/launcher=submitit_slurm``), which resubmits the same job, or with
   ``scontrol requeue $SLURM_JOB_ID`` for a job started with ``sbatch``/``srun``.
3. The requeued job gets the same run directory and resumes from ``last.ckpt`` of the same config
   there (:func:`ganbench.resume.checkpoint_to_resume`). For ``sbatch``/``srun`` the directory
   is named by :func:`run_dir_name`, and the SLURM job id survives a requeue. A submitit job
   rebuilds its config from the pickled, unresolved one; ``hydra.sweep.dir`` is the same as the
   submitter announced because Hydra copies the submitter's resolver cache into the job and the
   ``ganbench_job_dir`` resolver is cached (:mod:`ganbench.bootstrap`); ``hydra.sweep.subdir`` holds
   the job number, which a requeue keeps.

Lightning's own SLURM auto-requeue (an "hpc" checkpoint written from inside the signal handler,
wherever the step happens to be) is switched off in favour of this, so that there is one resume path.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable

SBATCH_SIGNAL = signal.SIGUSR1  # `#SBATCH --signal=SIGUSR1@120`: the convention Lightning also uses


def on_slurm() -> bool:
    """Whether this process runs inside a SLURM allocation."""
    return "SLURM_JOB_ID" in os.environ


def under_submitit() -> bool:
    """Whether this process is a job started by submitit (hydra-submitit-launcher)."""
    return "SUBMITIT_EXECUTOR" in os.environ


def submitit_signal() -> signal.Signals:
    """The signal submitit reserves for checkpoint-and-requeue (``SUBMITIT_PREEMPT_SIGNAL``, default USR2)."""
    return signal.Signals["SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2")]


def requeue_signals() -> tuple[signal.Signals, ...]:
    """Signals that mean "save and come back later" in this process's environment."""
    if under_submitit():
        return (submitit_signal(),)
    if on_slurm():
        return (SBATCH_SIGNAL,)
    return ()


def task_layout_errors(devices: object) -> list[str]:
    """A SLURM task layout that Lightning refuses, found before anything is written: several tasks
    requested with ``-n``/``--ntasks`` alone (Lightning reads ``--ntasks-per-node``; it would fail
    in every task after the run directory was made). ``devices`` is ``accelerator.devices``."""
    env = os.environ
    if not on_slurm() or under_submitit():
        return []
    ntasks = env.get("SLURM_NTASKS", "1")
    if not ntasks.isdigit() or int(ntasks) < 2 or "SLURM_NTASKS_PER_NODE" in env:
        return []
    return [
        f"SLURM started {ntasks} tasks with -n/--ntasks, which Lightning does not read: ask for them per node, "
        f"e.g. srun --nodes=1 --ntasks-per-node={ntasks} ganbench-train accelerator.devices={ntasks} … "
        f"(one task per device; accelerator.devices is {devices})"
    ]


def run_dir_name(stamp: str) -> str:
    """The last component of a single run's directory: the SLURM job id (array job and task id for
    job arrays) on a cluster, so that a requeued job, and every rank of a multi-node job, lands in
    the same directory; otherwise the launch time ``stamp``."""
    env = os.environ
    if "SLURM_ARRAY_JOB_ID" in env and "SLURM_ARRAY_TASK_ID" in env:
        return f"slurm-{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"
    if "SLURM_JOB_ID" in env:
        return f"slurm-{env['SLURM_JOB_ID']}"
    return stamp


def requeue(signame: str, say: Callable[[str], object] = print) -> None:
    """Put the current job back in the queue after a graceful stop caused by ``signame``, saying
    what is done through ``say`` first.

    Under submitit the signal is delivered again to submitit's handler (restored when training
    ended); it resubmits the job and exits the process, so this does not return.
    """
    sig = signal.Signals[signame]
    # SLURM requeues a running job by signalling every process in it (SIGCONT, SIGTERM), the
    # `scontrol requeue` that asked for it included. On a busy node SIGTERM can reach scontrol
    # before it has exited with SLURM's answer; submitit then fails the job ("died with SIGTERM")
    # although SLURM has requeued it. This process has nothing left to do but requeue and exit, so
    # it ignores SIGTERM from here on, and so does scontrol: an ignored signal stays ignored in the
    # processes a process starts.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if callable(signal.getsignal(sig)):
        say(f"  {signame}: handing over to the job launcher to requeue; the job resumes from last.ckpt here")
        os.kill(os.getpid(), sig)  # submitit: checkpoint_and_try_requeue(), then sys.exit
        return
    job = os.environ.get("SLURM_JOB_ID")
    if not job:
        say(f"  {signame} outside a SLURM job: not requeued")
        return
    try:
        subprocess.run(["scontrol", "requeue", job], check=True, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as err:
        detail = (getattr(err, "stderr", "") or str(err)).strip()
        say(f"  requeue of SLURM job {job} failed ({detail}); resubmit the job: it resumes from the run directory")
        return
    say(f"  requeued SLURM job {job}: it resumes from last.ckpt in this run directory")
