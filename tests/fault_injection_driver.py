"""``ganbench-train`` that sends a signal to itself at one point of the run (for
tests/test_fault_injection.py): a real signal, at a point chosen exactly instead of by timing.

    python fault_injection_driver.py POINT SIGNAL [ganbench-train arguments …]

POINT is one of :data:`POINTS`; SIGNAL a name (SIGINT, SIGTERM, SIGKILL). Nothing else changes:
the run computes what ``ganbench-train`` with the same arguments computes.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import lightning as L

from ganbench import experiment, train
from ganbench.training import callbacks
from ganbench.training.module import GANModule

MID_ITERATION = 13  # inside the GAN iteration that starts after 12 completed ones
EVALUATED_AT = 20  # the periodic evaluation that is interrupted
WRITTEN_AT = 20  # the checkpoint whose write is interrupted (after the file is written, before its rename)
POINTS = ("building", "start-up", "mid-iteration", "evaluation", "checkpoint-write", "after-final-checkpoint")


def fire(signum: int) -> None:
    os.kill(os.getpid(), signum)
    if signum == signal.SIGKILL:  # delivered asynchronously: never go on past this point
        time.sleep(600)


def patch(point: str, signum: int) -> None:
    """Make the run send ``signum`` to itself once, at ``point``."""
    fired = []

    def once() -> None:
        if not fired:
            fired.append(True)
            fire(signum)

    if point == "building":  # while ganbench builds the run: the evaluator is its last part
        build_evaluator = experiment.build_evaluator

        def building(*args, **kwargs):
            once()
            return build_evaluator(*args, **kwargs)

        experiment.build_evaluator = building
    elif point == "start-up":  # in Lightning's set-up, before the first iteration
        configure_optimizers = GANModule.configure_optimizers

        def configuring(self):
            once()
            return configure_optimizers(self)

        GANModule.configure_optimizers = configuring
    elif point == "mid-iteration":
        gan_iteration = GANModule._gan_iteration

        def iterating(self, iteration, *args, **kwargs):
            if iteration == MID_ITERATION:
                once()
            return gan_iteration(self, iteration, *args, **kwargs)

        GANModule._gan_iteration = iterating
    elif point == "evaluation":
        evaluate = callbacks.EvaluationCallback._evaluate

        def evaluating(self, trainer, pl_module, iteration, *args, **kwargs):
            if iteration == EVALUATED_AT:
                once()
            return evaluate(self, trainer, pl_module, iteration, *args, **kwargs)

        callbacks.EvaluationCallback._evaluate = evaluating
    elif point == "checkpoint-write":
        save_checkpoint = L.Trainer.save_checkpoint

        def saving(self, filepath, *args, **kwargs):
            save_checkpoint(self, filepath, *args, **kwargs)
            if self.lightning_module.iteration == WRITTEN_AT:
                once()

        L.Trainer.save_checkpoint = saving
    elif point == "after-final-checkpoint":
        on_train_end = callbacks.IterationCheckpoint.on_train_end

        def ended(self, trainer, pl_module):
            on_train_end(self, trainer, pl_module)
            once()

        callbacks.IterationCheckpoint.on_train_end = ended
    else:
        raise SystemExit(f"unknown point {point!r}; one of {', '.join(POINTS)}")


if __name__ == "__main__":
    point, name, *arguments = sys.argv[1:]
    patch(point, signal.Signals[name])
    sys.argv = ["ganbench-train", *arguments]
    train.main()
