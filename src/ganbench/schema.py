"""The structured schema of the root config: typos and wrong types fail at compose time.

Registered in Hydra's ConfigStore as ``train_schema`` and listed first in ``conf/train.yaml``'s
defaults, so ``iteratons=5`` ("Key 'iteratons' is not in struct") and ``iterations=abc`` ("Value
'abc' ... could not be converted to Integer ... full_key: iterations") are refused before
anything runs. The config groups (dataset, model, loss, …) are free-form: each is checked by the
constructor it instantiates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class EMASchema:
    decay: Optional[float] = 0.99  # noqa: UP045 (OmegaConf needs typing.Optional)
    start: int = 0


@dataclass
class EvalSchema:
    every: Optional[int] = 500  # noqa: UP045
    seed: int = 1234
    repeats: int = 1  # evaluations per eval point, each with its own latent seed: metric = mean, <m>_seed_std
    best: bool = False  # also record best_<metric> over the evaluations of the run (metric directions)
    background_plots: bool = True  # render plots in a worker process while training goes on


@dataclass
class CheckpointSchema:
    every: Optional[int] = 1000  # noqa: UP045


@dataclass
class TrainSchema:
    dataset: Any = MISSING
    evaluator: Any = MISSING
    model: Any = MISSING
    loss: Any = MISSING
    regularizer: Any = MISSING
    optimizer: Any = MISSING
    module: Any = MISSING  # conf/module/: GANModule, wired to the root keys
    accelerator: Any = MISSING
    trainer: Any = MISSING
    callbacks: Any = MISSING  # conf/callbacks/: the Trainer's callbacks, each a _target_ node under a name
    logger: Any = None
    seed: int = 0
    iterations: int = 2500
    batch_size: int = 256
    batch_size_is: str = "per_process"  # or "global": batch_size is split over the DDP processes
    n_critic: int = 1
    log_every: int = 10
    iterations_per_step: int = 50
    grad_clip: Optional[float] = None  # noqa: UP045
    resume: Optional[str] = None  # noqa: UP045
    optimized_metric: Optional[str] = None  # noqa: UP045
    ema: EMASchema = field(default_factory=EMASchema)
    eval: EvalSchema = field(default_factory=EvalSchema)
    checkpoint: CheckpointSchema = field(default_factory=CheckpointSchema)


def register() -> None:
    ConfigStore.instance().store(name="train_schema", node=TrainSchema)


register()
