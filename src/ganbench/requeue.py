"""Requeue on timeout under submitit (``hydra/launcher=submitit_slurm`` or ``submitit_local``).

SLURM sends submitit's signal (SIGUSR2) ``signal_delay_s`` seconds before a job's time limit, and
submitit's own handler requeues the job at once: in the middle of an iteration, losing the work
since the last periodic checkpoint. :class:`TimeoutRequeue` defers it:

1. while the run trains, the signal is handed to ganbench's :class:`GracefulInterrupt`, so the run
   stops at the end of the current iteration, where ``IterationCheckpoint`` saves ``last.ckpt``, and
   ``summary.json`` says ``interrupted``;
2. then submitit's handler requeues the job. Hydra's submitit launcher resubmits the same job with
   the same overrides, so it gets the same run directory (the sweep directory, ``${now:…}``
   included, is resolved once and pickled with the job);
3. the requeued job finds ``checkpoints/last.ckpt`` of the same config in its run directory and
   continues from it (the automatic resume of :func:`ganbench.experiment.checkpoint_to_resume`).

A signal that arrives outside training (while the job starts up or evaluates at the end) goes to
submitit's handler at once; the requeued job then resumes from the last checkpoint on disk, if any.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

from ganbench.training.callbacks import GracefulInterrupt

log = logging.getLogger("ganbench")


class TimeoutRequeue:
    """Takes over submitit's timeout/preemption signal for the duration of one ganbench job."""

    def __init__(self, signum: int, submitit_handler: Callable[[int, FrameType | None], Any]) -> None:
        self.signum = signum
        self.submitit_handler = submitit_handler
        self.received = False

    @classmethod
    def install(cls) -> TimeoutRequeue | None:
        """Install the deferring handler when this process is a submitit job with submitit's signal
        handler in place; return None anywhere else (plain runs, other launchers)."""
        try:
            import submitit

            env = submitit.JobEnvironment()
            signum = env._usr_sig()
        except (ImportError, RuntimeError):
            return None
        previous = signal.getsignal(signum)
        if not callable(previous):  # no submitit handler: nothing would requeue the job
            return None
        handler = cls(signum, previous)
        signal.signal(signum, handler._on_signal)
        return handler

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.received = True
        current = signal.getsignal(signal.SIGTERM)  # GracefulInterrupt's handler while training
        if isinstance(getattr(current, "__self__", None), GracefulInterrupt):
            log.warning(
                "%s: stopping at the end of this iteration to save last.ckpt, then requeueing",
                signal.Signals(signum).name,
            )
            current(signum, frame)
        else:
            log.warning("%s outside training: requeueing now", signal.Signals(signum).name)
            self.requeue(frame)

    def requeue(self, frame: FrameType | None = None) -> None:
        """Let submitit requeue the job: on rank 0 this exits the process (SystemExit)."""
        signal.signal(self.signum, self.submitit_handler)
        self.submitit_handler(self.signum, frame)

    def uninstall(self) -> None:
        """Give the signal back to submitit (the job ended normally)."""
        signal.signal(self.signum, self.submitit_handler)
