"""Build a training run from a composed config and execute it."""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from ganbench.loggers import make_loggers
from ganbench.summary import atomic_write_text, write_summary
from ganbench.training.callbacks import EvaluationCallback, IterationCheckpoint, IterationProgressBar
from ganbench.training.module import GANModule, NonFiniteError

log = logging.getLogger("ganbench")

# Lightning messages that do not apply to ganbench's own loop and logging.
for _message in (
    r".*exists and is not empty.*",  # the run directory already holds config.yaml
    r".*smaller than the logging interval.*",  # ganbench logs every `log_every` iterations itself
    r".*LeafSpec.*",
    r".*weights_only.*was not set.*",
):
    warnings.filterwarnings("ignore", message=_message)


class _DropAdverts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "💡" not in record.getMessage()


for _name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
    logging.getLogger(_name).addFilter(_DropAdverts())

CHOICE_GROUPS = ("dataset", "model", "loss", "regularizer", "optimizer", "accelerator", "trainer", "logger")


@dataclass
class Experiment:
    """Everything one run needs, instantiated from the config."""

    cfg: DictConfig
    datamodule: L.LightningDataModule
    module: GANModule
    trainer: L.Trainer
    evaluation: EvaluationCallback
    checkpoint: IterationCheckpoint


def choices(cfg: DictConfig) -> dict[str, str]:
    """The config-group options the run was composed from (``loss: hinge`` …)."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        picked = OmegaConf.to_container(HydraConfig.get().runtime.choices)
    else:
        node = OmegaConf.select(cfg, "hydra.runtime.choices", default=None)
        picked = OmegaConf.to_container(node) if node is not None else {}
    return {g: str(picked.get(g)) for g in CHOICE_GROUPS if picked.get(g) is not None}


def device_sampler(dataset: Any, seed: int):
    """A ``(n, device) -> Tensor`` function drawing real samples from ``dataset.mixture`` with a
    private, seeded generator created on first use on the model's device."""
    state: dict[str, torch.Generator] = {}

    def sample(n: int, device: torch.device) -> torch.Tensor:
        if "rng" not in state or state["rng"].device != device:
            state["rng"] = torch.Generator(device=device).manual_seed(seed)
        return dataset.mixture.sample(n, state["rng"])

    sample.state = state  # exposed so checkpoints can save the stream
    return sample


def build(cfg: DictConfig, run_dir: Path) -> Experiment:
    run_dir = Path(run_dir)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = instantiate(cfg.dataset)
    generator = instantiate(cfg.model.generator)
    discriminator = instantiate(cfg.model.discriminator)
    loss = instantiate(cfg.loss)
    regularizer = instantiate(cfg.regularizer)
    opt = cfg.optimizer
    sampler = device_sampler(datamodule, cfg.seed + 1) if getattr(datamodule, "samples_on_device", False) else None
    module = GANModule(
        generator,
        discriminator,
        loss,
        regularizer,
        g_optimizer=instantiate(opt.generator),
        d_optimizer=instantiate(opt.discriminator),
        g_scheduler=instantiate(opt.scheduler) if opt.get("scheduler") else None,
        d_scheduler=instantiate(opt.scheduler) if opt.get("scheduler") else None,
        batch_size=cfg.batch_size,
        n_critic=cfg.n_critic,
        ema_decay=cfg.ema.decay,
        ema_start=cfg.ema.start,
        log_every=cfg.log_every,
        grad_clip=cfg.grad_clip,
        real_sampler=sampler,
    )
    evaluation = EvaluationCallback(
        datamodule.evaluator(cfg.eval.num_samples), cfg.eval.every, run_dir / "plots", seed=cfg.eval.seed
    )
    checkpoint = IterationCheckpoint(run_dir / "checkpoints", cfg.checkpoint.every)
    callbacks = [evaluation, checkpoint]
    if cfg.trainer.enable_progress_bar:
        callbacks.append(IterationProgressBar(refresh_rate=cfg.log_every))
    loggers = make_loggers(cfg, run_dir)
    trainer = L.Trainer(
        **OmegaConf.to_container(cfg.accelerator),
        **OmegaConf.to_container(cfg.trainer),
        max_steps=cfg.iterations * (cfg.n_critic + 1),
        max_epochs=1,
        logger=loggers or False,
        callbacks=callbacks,
        enable_checkpointing=False,
        default_root_dir=str(run_dir),
        num_sanity_val_steps=0,
        log_every_n_steps=cfg.log_every,
        limit_val_batches=0,
    )
    return Experiment(cfg, datamodule, module, trainer, evaluation, checkpoint)


def run(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Train, evaluate and write ``config.yaml`` and ``summary.json`` into ``run_dir``.

    Returns the summary. A divergence ends the run with status ``diverged``; any other error is
    recorded as ``failed`` in the summary and re-raised.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    resolved = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(resolved, resolve=True))
    start = time.perf_counter()
    summary: dict[str, Any] = {
        "status": "failed",
        "iterations": 0,
        "seed": int(cfg.seed),
        "choices": choices(cfg),
        "metrics": {},
        "wall_seconds": 0.0,
        "run_dir": str(run_dir),
    }
    exp: Experiment | None = None
    try:
        exp = build(cfg, run_dir)
        exp.trainer.fit(exp.module, datamodule=exp.datamodule)
        summary["status"] = "completed"
    except NonFiniteError as err:
        summary.update(status="diverged", reason=str(err))
        log.error("run diverged: %s", err)
    except BaseException as err:
        summary.update(status="failed", error=f"{type(err).__name__}: {err}")
        raise
    finally:
        if exp is not None:
            summary["iterations"] = exp.module.iteration
            summary["metrics"] = exp.evaluation.last_metrics
            summary["evaluated_at"] = exp.evaluation.last_iteration
            summary["plot"] = str(exp.evaluation.last_plot) if exp.evaluation.last_plot else None
            summary["checkpoint"] = str(exp.checkpoint.last_path) if exp.checkpoint.last_path else None
        summary["wall_seconds"] = round(time.perf_counter() - start, 3)
        if exp is None or exp.trainer.is_global_zero:
            write_summary(run_dir, summary)
    return summary


def describe(summary: dict[str, Any]) -> str:
    """A few readable lines about a finished run."""
    m = summary.get("metrics", {})
    chosen = summary["choices"]
    picked = ", ".join(f"{k}={chosen[k]}" for k in ("dataset", "loss", "regularizer") if k in chosen)
    lines = [
        f"ganbench: run {summary['status']} after {summary['iterations']} iterations "
        f"in {summary['wall_seconds']:.1f} s ({picked}, seed={summary['seed']})"
    ]
    if "modes_captured" in m:
        k = m.get("num_modes")
        lines.append(
            f"  modes captured: {m['modes_captured']}"
            + (f" of {k}" if k else "")
            + f" | high-quality samples: {100 * m['high_quality']:.1f}% | reverse KL: {m['reverse_kl']:.3f}"
        )
    elif m:
        lines.append("  " + ", ".join(f"{k}={v:.4g}" for k, v in m.items()))
    if summary.get("reason"):
        lines.append(f"  reason: {summary['reason']}")
    if summary.get("plot"):
        lines.append(f"  plot: {summary['plot']}")
    lines.append(f"  summary: {Path(summary['run_dir']) / 'summary.json'}")
    return "\n".join(lines)
