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
from lightning.pytorch.plugins.environments import SLURMEnvironment
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from ganbench.data.toy import DeviceSampler
from ganbench.loggers import make_loggers, truncate_metrics
from ganbench.models.checks import check_regularizer_compatible
from ganbench.summary import atomic_write_text, read_summary, write_summary
from ganbench.training.callbacks import (
    EvaluationCallback,
    GracefulInterrupt,
    IterationCheckpoint,
    IterationEvents,
    IterationProgressBar,
)
from ganbench.training.module import GANModule, NonFiniteError
from ganbench.training.overhead import NullProfiler
from ganbench.validation import validate_config
from ganbench.wandb_support import image_callbacks

log = logging.getLogger("ganbench")

# Lightning messages that do not apply to ganbench's own loop and logging.
for _message in (
    r".*exists and is not empty.*",  # the run directory already holds config.yaml
    r".*smaller than the logging interval.*",  # ganbench logs every `log_every` iterations itself
    r".*LeafSpec.*",
    r".*weights_only.*was not set.*",
    # image datamodules restore their data position from the checkpoint themselves (IterationSampler)
    r".*your dataloader is not resumable.*",
    r".*all_gather is deprecated.*",
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
    interrupt: GracefulInterrupt


def choices(cfg: DictConfig) -> dict[str, str]:
    """The config-group options the run was composed from (``loss: hinge`` …)."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        picked = OmegaConf.to_container(HydraConfig.get().runtime.choices)
    else:
        node = OmegaConf.select(cfg, "hydra.runtime.choices", default=None)
        picked = OmegaConf.to_container(node) if node is not None else {}
    return {g: str(picked.get(g)) for g in CHOICE_GROUPS if picked.get(g) is not None}


def build(cfg: DictConfig, run_dir: Path) -> Experiment:
    run_dir = Path(run_dir)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = instantiate(cfg.dataset)
    generator = instantiate(cfg.model.generator)
    discriminator = instantiate(cfg.model.discriminator)
    loss = instantiate(cfg.loss)
    regularizer = instantiate(cfg.regularizer)
    check_regularizer_compatible(discriminator, regularizer)
    channels_last = bool(cfg.model.get("channels_last", False))
    if channels_last:  # conv weights in NHWC; real batches follow in GANModule
        generator.to(memory_format=torch.channels_last)
        discriminator.to(memory_format=torch.channels_last)
    opt = cfg.optimizer
    sampler = (
        DeviceSampler(datamodule.mixture, cfg.seed + 1) if getattr(datamodule, "samples_on_device", False) else None
    )
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
        iterations_per_step=int(cfg.get("iterations_per_step", 1)),
        step_boundaries=(cfg.eval.every, cfg.checkpoint.every),
        compile=bool(cfg.model.get("compile", False)),
        channels_last=channels_last,
    )
    evaluation = EvaluationCallback(
        datamodule.evaluator(cfg.eval.num_samples), cfg.eval.every, run_dir / "plots", seed=cfg.eval.seed
    )
    checkpoint = IterationCheckpoint(run_dir / "checkpoints", cfg.checkpoint.every)
    interrupt = GracefulInterrupt()
    # one Lightning callback for the three (see IterationEvents); interrupt before checkpoint: see GracefulInterrupt
    callbacks = [IterationEvents(evaluation, interrupt, checkpoint)]
    if cfg.trainer.enable_progress_bar:
        callbacks.append(IterationProgressBar(refresh_rate=cfg.log_every))
    loggers = make_loggers(cfg, run_dir)
    callbacks.extend(image_callbacks(loggers, evaluation))  # after `evaluation`: logs its plots to W&B
    # On SLURM, ganbench checkpoints and requeues itself (ganbench.slurm); Lightning's auto-requeue is off.
    plugins = [SLURMEnvironment(auto_requeue=False)] if SLURMEnvironment.detect() else None
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
        # datamodules place data per rank themselves (toy data is drawn per rank on the device)
        use_distributed_sampler=False,
        limit_val_batches=0,
        plugins=plugins,
        **({} if "profiler" in cfg.trainer else {"profiler": NullProfiler()}),
    )
    return Experiment(cfg, datamodule, module, trainer, evaluation, checkpoint, interrupt)


def checkpoint_to_resume(cfg: DictConfig, run_dir: Path) -> Path | None:
    """The checkpoint this run continues from, if any.

    ``resume=<run dir>`` asks for it explicitly (the run directory must hold
    ``checkpoints/last.ckpt``). Without it, a run directory that already holds a checkpoint of the
    *same* config is resumed automatically: that is what makes a requeued SLURM job continue
    instead of starting over. A checkpoint of a different config is refused, never overwritten.
    """
    last = run_dir / "checkpoints" / "last.ckpt"
    if cfg.get("resume"):
        return last
    if not last.is_file():
        return None
    saved_path = run_dir / "config.yaml"
    if saved_path.is_file():
        saved = OmegaConf.to_container(OmegaConf.load(saved_path), resolve=True)
        current = _resolved(cfg)
        diff = sorted(k for k in set(saved) | set(current) if k != "resume" and saved.get(k) != current.get(k))
        if diff:
            raise ValueError(
                f"{run_dir} already holds a checkpoint of a different run (config differs in: {', '.join(diff)}). "
                f"Choose another hydra.run.dir, or pass resume={run_dir} to continue that run as it was."
            )
    return last


def _resolved(cfg: DictConfig) -> dict[str, Any]:
    return OmegaConf.to_container(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), resolve=True)


def _previous_summary(run_dir: Path) -> dict[str, Any]:
    try:
        return read_summary(run_dir)
    except (FileNotFoundError, ValueError):
        return {}


def run(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Train, evaluate and write ``config.yaml`` and ``summary.json`` into ``run_dir``.

    Returns the summary. With ``resume=<run dir>`` (or a checkpoint of the same config already in
    ``run_dir``) the run continues from ``checkpoints/last.ckpt`` with its saved config. A divergence
    ends the run with status ``diverged``; SIGINT/SIGTERM with ``interrupted`` after a checkpoint;
    any other error is recorded as ``failed`` and re-raised.
    """
    run_dir = Path(cfg.resume) if cfg.get("resume") else Path(run_dir)
    if cfg.get("resume"):
        if not (run_dir / "checkpoints" / "last.ckpt").is_file():
            raise FileNotFoundError(
                f"resume={cfg.resume}: there is no {run_dir / 'checkpoints' / 'last.ckpt'} to resume from. Give the "
                "directory of a run that saved at least one checkpoint (every checkpoint.every iterations)."
            )
        if not (run_dir / "config.yaml").is_file():
            raise FileNotFoundError(f"resume={cfg.resume}: {run_dir / 'config.yaml'} not found; is it a ganbench run?")
        saved = OmegaConf.load(run_dir / "config.yaml")
        saved.resume = str(run_dir)
        cfg = saved
    validate_config(cfg)
    ckpt = checkpoint_to_resume(cfg, run_dir)
    previous = _previous_summary(run_dir) if ckpt else {}
    if previous.get("status") == "completed":
        log.info("%s already completed; nothing to resume", run_dir)
        return previous
    is_zero = rank_zero_only.rank == 0
    start = time.perf_counter()
    summary: dict[str, Any] = {
        "status": "running",
        "iterations": 0,
        "seed": int(cfg.seed),
        "choices": previous.get("choices") or choices(cfg),
        "metrics": {},
        "wall_seconds": 0.0,
        "run_dir": str(run_dir),
    }
    if ckpt is not None:
        resumed_at = int(torch.load(ckpt, map_location="cpu", weights_only=False)["ganbench"]["iteration"])
        summary["resumed_from"] = resumed_at
        summary["wall_seconds_before"] = float(previous.get("wall_seconds", 0.0)) + float(
            previous.get("wall_seconds_before", 0.0)
        )
    if is_zero:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(_resolved(cfg)))
        if ckpt is None:
            (run_dir / "metrics.csv").unlink(missing_ok=True)
        else:
            truncate_metrics(run_dir / "metrics.csv", summary["resumed_from"])
        write_summary(run_dir, summary)
    exp: Experiment | None = None
    try:
        exp = build(cfg, run_dir)
        exp.trainer.fit(
            exp.module, datamodule=exp.datamodule, ckpt_path=str(ckpt) if ckpt else None, weights_only=False
        )
        if exp.interrupt.received:
            summary.update(
                status="interrupted", reason=f"{exp.interrupt.received} at iteration {exp.interrupt.at_iteration}"
            )
        else:
            summary["status"] = "completed"
    except NonFiniteError as err:
        summary.update(status="diverged", reason=str(err), diverged_at=err.iteration)
        log.error("run diverged: %s", err)
    except BaseException as err:
        summary.update(status="failed", error=f"{type(err).__name__}: {err}")
        raise
    finally:
        if exp is not None:
            summary["iterations"] = summary.get("diverged_at", exp.module.iteration + 1) - 1
            summary["metrics"] = exp.evaluation.last_metrics or previous.get("metrics", {})
            summary["directions"] = dict(exp.evaluation.evaluator.directions)
            summary["info"] = exp.evaluation.evaluator.info()
            summary["evaluated_at"] = exp.evaluation.last_iteration or previous.get("evaluated_at")
            summary["plot"] = str(exp.evaluation.last_plot) if exp.evaluation.last_plot else previous.get("plot")
            if getattr(exp.evaluation.evaluator, "draws_grid", False):
                summary["sample_grid"] = summary["plot"]
            summary["checkpoint"] = str(exp.checkpoint.last_path) if exp.checkpoint.last_path else None
            for logger in exp.trainer.loggers:
                logger.save()
        summary["wall_seconds"] = round(time.perf_counter() - start, 3)
        if is_zero:
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
        k = summary.get("info", {}).get("num_modes")
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
