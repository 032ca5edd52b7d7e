"""Build a training run from a composed config and execute it."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from lightning.pytorch.callbacks import Callback, Checkpoint, ProgressBar
from lightning.pytorch.plugins.environments import SLURMEnvironment
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from ganbench.config import choices, resolved, trial_of, without_hydra
from ganbench.errors import ConfigError, one_line
from ganbench.evaluation.builder import build_evaluator
from ganbench.evaluation.contract import Evaluator
from ganbench.identity import objective
from ganbench.loggers import make_loggers, truncate_metrics
from ganbench.models.checks import check_regularizer_compatible
from ganbench.models.packing import build_discriminator
from ganbench.provenance import code_version
from ganbench.resume import checkpoint_to_resume, resolve_resume
from ganbench.rng import preserved_rng
from ganbench.rundir import CheckpointError, RunDirLock, load_checkpoint
from ganbench.summary import FAILURES, RunClock, RunRecorder, atomic_write_text
from ganbench.training.callbacks import (
    EvaluationCallback,
    GracefulInterrupt,
    IterationCheckpoint,
    IterationEvents,
    early_stop_reason,
)
from ganbench.training.distributed import trainer_arguments, with_per_process_batch
from ganbench.training.module import GANModule, NonFiniteError
from ganbench.training.overhead import NullProfiler
from ganbench.validation import OWN_CALLBACKS, validate_config
from ganbench.wandb_support import image_callbacks

log = logging.getLogger("ganbench")


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


@contextmanager
def _building(what: str) -> Iterator[None]:
    """Turn an error raised while building ``what`` from the config (a missing dataset, an
    unknown argument, a class that cannot be imported, an impossible setting) into a
    :class:`ConfigError` that names it: a user's mistake, reported in one line."""
    try:
        yield
    except ConfigError:
        raise
    except Exception as err:
        cause = err.__cause__ if isinstance(err, InstantiationException) and err.__cause__ is not None else err
        if not isinstance(cause, (ValueError, TypeError, LookupError, OSError, ImportError, InstantiationException)):
            raise
        message = " ".join(line.strip() for line in str(cause).splitlines() if line.strip()) or type(cause).__name__
        raise ConfigError(f"{what}: {message}") from None


def build(cfg: DictConfig, run_dir: Path, interrupt: GracefulInterrupt | None = None) -> Experiment:
    """Instantiate everything ``cfg`` asks for; ``interrupt`` is the run's signal handler (a new one by default)."""
    run_dir = Path(run_dir)
    cfg = with_per_process_batch(cfg)  # batch_size_is=global: each DDP process draws batch_size / processes
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    with _building(f"dataset ({cfg.dataset.get('_target_')})"):
        # the run length is the root key's: a run extended with resume=… iterations=N reads it from there
        datamodule = instantiate(cfg.dataset, **({"iterations": cfg.iterations} if "iterations" in cfg.dataset else {}))
    with _building("model"):
        generator = instantiate(cfg.model.generator)
        discriminator = build_discriminator(cfg.model.discriminator)  # honours model.discriminator.packing
    with _building(f"loss ({cfg.loss.get('_target_')})"):
        loss = instantiate(cfg.loss)
    with _building(f"regularizer ({cfg.regularizer.get('_target_')})"):
        regularizer = instantiate(cfg.regularizer)
        check_regularizer_compatible(discriminator, regularizer)
    channels_last = bool(cfg.model.get("channels_last", False))
    if channels_last:  # conv weights in NHWC; real batches follow in GANModule
        generator.to(memory_format=torch.channels_last)
        discriminator.to(memory_format=torch.channels_last)
    sampler = datamodule.real_sampler(cfg.seed + 1) if getattr(datamodule, "samples_on_device", False) else None
    with _building("invalid config"):  # conf/module/gan.yaml: the root keys' settings, checked by GANModule
        module: GANModule = instantiate(
            cfg.module,
            generator=generator,
            discriminator=discriminator,
            loss=loss,
            regularizer=regularizer,
            real_sampler=sampler,
            iterations=cfg.iterations,  # the root key's, as for the dataset (resume=… iterations=N)
        )
    if not getattr(datamodule, "download", False):
        with _building(f"dataset ({cfg.dataset.get('_target_')})"), preserved_rng():
            datamodule.setup("fit")  # load (and check) the data now, before anything is written
    # The evaluator may train a domain classifier or read real images on a cache miss: never from
    # the training RNG streams, so a cold and a warm cache train identically.
    with _building(f"evaluator ({cfg.evaluator.get('_target_')})"), preserved_rng():
        evaluator = build_evaluator(cfg.evaluator, datamodule)
    evaluation, interrupt, checkpoint, callbacks = _callbacks(cfg, evaluator, run_dir, interrupt)
    loggers = make_loggers(cfg, run_dir)
    callbacks.extend(image_callbacks(loggers, evaluation))  # after `evaluation`: logs its plots to W&B
    # On SLURM, ganbench checkpoints and requeues itself (ganbench.slurm); Lightning's auto-requeue is off.
    plugins = [SLURMEnvironment(auto_requeue=False)] if SLURMEnvironment.detect() else None
    trainer_args = trainer_arguments(cfg.trainer, cfg.accelerator, generator, discriminator)  # sync_batchnorm resolved
    # without a progress bar among the callbacks (trainer.enable_progress_bar=false, or
    # '~callbacks.progress_bar'), none at all: not Lightning's own either
    trainer_args["enable_progress_bar"] = any(isinstance(cb, ProgressBar) for cb in callbacks)
    trainer = L.Trainer(
        **OmegaConf.to_container(cfg.accelerator),
        **trainer_args,
        max_steps=module.lightning_steps(),
        # the run ends at max_steps; no epoch limit, so that a finished run can be extended (resume= iterations=N)
        max_epochs=-1,
        logger=loggers or False,
        callbacks=callbacks,
        # ganbench checkpoints itself (callbacks.checkpoint); Lightning's only when one is configured
        # (+callbacks=model_checkpoint), never a default one
        enable_checkpointing=any(isinstance(cb, Checkpoint) for cb in callbacks),
        default_root_dir=str(run_dir),
        num_sanity_val_steps=0,
        # Lightning flushes what is logged with self.log(logger=True) every N *steps* (a step may run
        # several iterations): 1 filters nothing. ganbench's own metrics reach the loggers at their
        # iteration through GANModule.log_metrics, every `log_every` iterations.
        log_every_n_steps=1,
        # datamodules place data per rank themselves (toy data is drawn per rank on the device)
        use_distributed_sampler=False,
        limit_val_batches=0,
        plugins=plugins,
        **({} if "profiler" in cfg.trainer else {"profiler": NullProfiler()}),
    )
    return Experiment(cfg, datamodule, module, trainer, evaluation, checkpoint, interrupt)


def _callbacks(
    cfg: DictConfig, evaluator: Evaluator, run_dir: Path, interrupt: GracefulInterrupt | None
) -> tuple[EvaluationCallback, GracefulInterrupt, IterationCheckpoint, list[Callback]]:
    """The Trainer's callbacks from ``cfg.callbacks`` (``conf/callbacks/``), in their order there.

    ganbench's own three are given the run's objects here and run as one Lightning callback,
    :class:`IterationEvents`, first: ``evaluation`` (with ``evaluator`` and ``<run dir>/plots``),
    ``signals`` (``interrupt``, the handler the run installed before it was built, or a new one)
    and ``checkpoint`` (with ``<run dir>/checkpoints``), in that order (see GracefulInterrupt).
    Every other entry is instantiated as it stands; a progress bar only with
    ``trainer.enable_progress_bar``. :func:`ganbench.validation.validate_config` has checked that
    the three are there."""
    nodes = cfg.callbacks
    evaluation = _callback(nodes, "evaluation", EvaluationCallback, evaluator=evaluator, plot_dir=run_dir / "plots")
    if interrupt is None:
        interrupt = _callback(nodes, "signals", GracefulInterrupt)
    elif not isinstance(interrupt, _callback_class(nodes, "signals", GracefulInterrupt)):
        raise ConfigError(f"callbacks.signals._target_ must name {type(interrupt).__name__}, the run's own handler")
    checkpoint = _callback(nodes, "checkpoint", IterationCheckpoint, dirpath=run_dir / "checkpoints")
    callbacks: list[Callback] = [IterationEvents(evaluation, interrupt, checkpoint)]
    for name in nodes:
        if name in OWN_CALLBACKS:
            continue
        if issubclass(_callback_class(nodes, name, Callback), ProgressBar) and not cfg.trainer.enable_progress_bar:
            continue
        callbacks.append(_callback(nodes, name, Callback))
    return evaluation, interrupt, checkpoint, callbacks


def _callback_class(nodes: DictConfig, name: str, kind: type) -> type:
    """The class ``callbacks.<name>._target_`` names, which must be a ``kind``."""
    target = nodes[name].get("_target_")
    with _building(f"callbacks.{name} ({target})"):
        cls = get_class(str(target))
    if not issubclass(cls, kind):
        raise ConfigError(f"callbacks.{name}._target_={target} is not a {kind.__module__}.{kind.__qualname__}")
    return cls


def _callback(nodes: DictConfig, name: str, kind: type, **runtime: Any) -> Any:
    """``callbacks.<name>``, instantiated with the run's objects ``runtime``."""
    _callback_class(nodes, name, kind)
    with _building(f"callbacks.{name} ({nodes[name].get('_target_')})"):
        return instantiate(nodes[name], **runtime)


def _hydra_files(cfg: DictConfig) -> dict[str, str]:
    """Hydra's own record of the run (``.hydra/``: the composed config, the Hydra config and the
    overrides), written by ganbench once the run is accepted."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return {}
    hydra_cfg = HydraConfig.get()
    return {
        "config.yaml": OmegaConf.to_yaml(without_hydra(cfg)),
        "hydra.yaml": OmegaConf.to_yaml({"hydra": hydra_cfg}),
        "overrides.yaml": OmegaConf.to_yaml(list(hydra_cfg.overrides.task)),
    }


def run(cfg: DictConfig, run_dir: Path, overrides: Sequence[str] | None = None) -> dict[str, Any]:
    """Train, evaluate and write ``config.yaml`` and ``summary.json`` into ``run_dir``.

    Returns the run record (as a dict). Every user error is a :class:`ConfigError` raised before
    anything is written. With ``resume=<run dir>`` (or a checkpoint of the same config already in
    ``run_dir``) the run continues from ``checkpoints/last.ckpt``. A divergence ends the run with
    status ``diverged``; SIGINT/SIGTERM (or Ctrl-C during start-up) with ``interrupted``; any other
    error is recorded as ``failed`` and re-raised. ``overrides`` are the command line's (taken from
    Hydra when None).
    """
    if overrides is None:
        overrides = _task_overrides()
    cfg, run_dir = resolve_resume(cfg, run_dir, overrides)
    validate_config(cfg)
    is_zero = rank_zero_only.rank == 0
    ckpt = checkpoint_to_resume(cfg, run_dir)
    with RunDirLock(run_dir) if is_zero else nullcontext():
        return _run_owned(cfg, run_dir, ckpt, is_zero)


def _task_overrides() -> list[str]:
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def _run_owned(cfg: DictConfig, run_dir: Path, ckpt: Path | None, is_zero: bool) -> dict[str, Any]:
    recorder = RunRecorder(run_dir, write=is_zero)
    previous = recorder.previous() if ckpt else None
    resumed_from = None
    if ckpt is not None:
        try:
            state = load_checkpoint(ckpt)
        except CheckpointError as err:
            if previous is not None and is_zero:
                recorder.record = previous
                recorder.failed(f"CheckpointError: {err}")
            raise
        resumed_from = int(state["ganbench"]["iteration"])
        del state
        if resumed_from > cfg.iterations:
            raise ConfigError(
                f"{run_dir} has already run {resumed_from} iterations; iterations={cfg.iterations} would shorten it. "
                f"Give iterations > {resumed_from} to extend it."
            )
    if previous is not None and previous.status == "completed":
        # a run stopped early (planned_iterations) is finished too, unless iterations= extends it beyond them
        if max(previous.iterations, previous.planned_iterations or 0) >= cfg.iterations:
            log.info("%s already completed; nothing to resume", run_dir)
            return previous.to_dict()
    clock = RunClock()
    names = choices(cfg) if previous is None else previous.choices
    record_args = dict(
        seed=cfg.seed,
        choices=names,
        objective=objective(cfg, names),
        resumed_from=resumed_from,
        previous=previous,
        trial=trial_of(cfg),
        code=code_version(),
    )
    interrupt = GracefulInterrupt()
    interrupt.install()  # Ctrl-C from here until training starts stops the run at once (see GracefulInterrupt)
    try:
        return _train_and_record(cfg, run_dir, ckpt, is_zero, recorder, record_args, interrupt, clock)
    finally:
        interrupt.restore()


def _train_and_record(
    cfg: DictConfig,
    run_dir: Path,
    ckpt: Path | None,
    is_zero: bool,
    recorder: RunRecorder,
    record_args: dict[str, Any],
    interrupt: GracefulInterrupt,
    clock: RunClock,
) -> dict[str, Any]:
    resumed_from = record_args["resumed_from"]
    try:
        exp = build(cfg, run_dir, interrupt)
        if is_zero:
            _write_config(cfg, run_dir)
            if ckpt is None:
                for name, text in _hydra_files(cfg).items():
                    atomic_write_text(run_dir / ".hydra" / name, text)
                (run_dir / "metrics.csv").unlink(missing_ok=True)
            else:
                truncate_metrics(run_dir / "metrics.csv", resumed_from)
        recorder.start(**record_args)
        evaluator = exp.evaluation.evaluator
        recorder.update(directions=dict(exp.evaluation.directions), info=dict(evaluator.info()))
    except KeyboardInterrupt:  # Ctrl-C (or SIGTERM) while the run was being built
        return _interrupted_during_start_up(cfg, run_dir, is_zero, recorder, record_args, interrupt, clock)
    try:
        exp.trainer.fit(exp.module, datamodule=exp.datamodule, ckpt_path=str(ckpt) if ckpt else None, weights_only=True)
        # a signal after the last iteration (its final checkpoint written) interrupts nothing
        status = "interrupted" if interrupt.received and not exp.module.is_last_iteration else "completed"
        error: BaseException | None = None
        if status == "completed" and exp.evaluation.last_iteration != exp.module.iteration:
            # resumed at its last iteration (killed after the final checkpoint): the final evaluation again
            exp.evaluation.recall(exp.trainer, exp.module)
    except NonFiniteError as err:
        status, error = "diverged", err
        log.error("run diverged: %s", err)
    except (KeyboardInterrupt, SystemExit) as err:
        # a signal during Lightning's set-up, which Lightning turns into sys.exit(1); or a Ctrl-C
        # that reached Python before the stop request took hold
        if isinstance(err, SystemExit) and not interrupt.received:
            status, error = "failed", err
        else:
            status, error = "interrupted", err
            interrupt.received = interrupt.received or "SIGINT"
    except BaseException as err:
        status, error = "failed", err
    if isinstance(error, NonFiniteError):
        iterations = error.iteration - 1
    else:  # before training began (a signal during Lightning's set-up), the checkpoint's
        iterations = exp.module.iteration if not interrupt.starting else int(resumed_from or 0)
    results = dict(
        iterations=iterations,
        metrics=exp.evaluation.last_metrics or recorder.record.metrics,
        directions=dict(exp.evaluation.directions),
        evaluated_at=exp.evaluation.last_iteration or recorder.record.evaluated_at,
        plot=str(exp.evaluation.last_plot) if exp.evaluation.last_plot else recorder.record.plot,
        checkpoint=str(exp.checkpoint.last_path) if exp.checkpoint.last_path else None,
        **clock.elapsed(),
    )
    if getattr(exp.evaluation.evaluator, "draws_grid", False):
        results["sample_grid"] = results["plot"]
    if exp.evaluation.best_at:
        results["best_at"] = exp.evaluation.best_at
    if status == "completed" and iterations < cfg.iterations:  # a callback stopped it (early stopping)
        results.update(reason=early_stop_reason(exp.trainer), planned_iterations=int(cfg.iterations))
    try:
        for logger in exp.trainer.loggers:
            logger.save()
        if status == "completed":
            recorder.complete(**results)
        elif status == "interrupted":
            at = None if interrupt.starting else interrupt.at_iteration  # None: during start-up
            recorder.interrupted(interrupt.received or "SIGINT", at, **results)
        elif status == "diverged":
            recorder.diverged(str(error), error.iteration, **results)
        else:
            recorder.failed(one_line(error), **results)
    except OSError as write_error:
        raise RecordWriteError(run_dir, status, error, write_error) from (error or write_error)
    if status == "failed":
        raise error
    return recorder.record.to_dict()


def _interrupted_during_start_up(
    cfg: DictConfig,
    run_dir: Path,
    is_zero: bool,
    recorder: RunRecorder,
    record_args: dict[str, Any],
    interrupt: GracefulInterrupt,
    clock: RunClock,
) -> dict[str, Any]:
    """Record a run stopped before training began. Its config is kept beside the record, so that
    ``resume=<run dir>`` starts it again (from its last checkpoint, or from the beginning)."""
    interrupt.received = interrupt.received or "SIGINT"
    interrupt.starting = False  # a second Ctrl-C while recording is ignored
    if is_zero and not (run_dir / "config.yaml").is_file():
        _write_config(cfg, run_dir)
    recorder.start(**record_args)
    recorder.interrupted(interrupt.received, None, **clock.elapsed())
    return recorder.record.to_dict()


def _write_config(cfg: DictConfig, run_dir: Path) -> None:
    """The run's resolved config, without Hydra's node: what ``resume=`` and the records read."""
    atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(resolved(cfg)))


class RecordWriteError(OSError):
    """The run ended (``status``, with ``error`` when it failed), and even its record could not be
    written (a full disk, a directory gone read-only): ``write_error`` says why."""

    def __init__(self, run_dir: Path, status: str, error: BaseException | None, write_error: OSError) -> None:
        self.run_dir, self.status, self.error, self.write_error = Path(run_dir), status, error, write_error
        ended = f"the run {status}" + (f" ({one_line(error)})" if error is not None else "")
        lost = f"even its record could not be written in {run_dir}: {one_line(write_error)}"
        super().__init__(write_error.errno, f"{ended}, and {lost}")


def primary_metric(cfg: DictConfig, record: dict[str, Any]) -> str | None:
    """The metric ``ganbench-train`` returns: ``optimized_metric``, else the evaluator's first."""
    if cfg.get("optimized_metric"):
        return str(cfg.optimized_metric)
    directions = record.get("directions") or {}
    return next(iter(directions), None)


def worst_value(direction: str) -> float:
    """The worst value of a metric to ``direction`` (``min``/``minimize`` or ``max``/``maximize``): what
    a sweeper is handed for a run that produced none."""
    return float("inf") if str(direction).lower().startswith("min") else float("-inf")


def returned_value(cfg: DictConfig, record: dict[str, Any]) -> float | None:
    """The value of :func:`primary_metric` for a sweeper: the worst possible value (±inf, by the
    metric's declared direction) for a run that diverged, failed or has no such metric."""
    name = primary_metric(cfg, record)
    if name is None:
        return None
    worst = worst_value((record.get("directions") or {}).get(name, "max"))
    value = (record.get("metrics") or {}).get(name)
    if record.get("status") in FAILURES or value is None:
        return worst
    value = float(value)
    return value if math.isfinite(value) else worst


def describe(summary: dict[str, Any], cfg: DictConfig) -> str:
    """A few readable lines about a finished run; the evaluator of ``cfg`` says how its metrics read."""
    evaluator: type[Evaluator] = get_class(cfg.evaluator._target_)
    m = summary.get("metrics", {})
    chosen = {**summary["choices"], **summary.get("objective", {})}
    picked = ", ".join(f"{k}={chosen[k]}" for k in ("dataset", "loss", "regularizer") if k in chosen)
    lines = [
        f"ganbench: run {summary['status']} after {summary['iterations']} iterations "
        f"in {summary['wall_seconds']:.1f} s ({picked}, seed={summary['seed']})"
    ]
    evaluated_at = summary.get("evaluated_at")
    # an interrupted run's metrics are those of its last evaluation, which may be older than the stop
    older = m and evaluated_at is not None and evaluated_at != summary["iterations"]
    when = f" (evaluation at iteration {evaluated_at})" if older else ""
    if m:
        lines.append("  " + evaluator.summary_line(m, summary.get("info") or {}) + when)
    if summary.get("reason"):
        lines.append(f"  reason: {summary['reason']}")
    if summary.get("plot"):
        lines.append(f"  plot: {summary['plot']}")
    lines.append(f"  summary: {Path(summary['run_dir']) / 'summary.json'}")
    return "\n".join(lines)
