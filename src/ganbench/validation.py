"""Config checks that run before any work: a typo or an impossible combination fails at once,
with a message that names the key and what to change."""

from __future__ import annotations

import difflib
import math
import os
import warnings
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationKeyError

from ganbench.errors import ConfigError, locate, not_a_setting, requested_devices
from ganbench.schema import TrainSchema

# Far beyond any run (a billion iterations), and small enough that every step count fits in 64 bits.
MAX_ITERATIONS = 10**9


def _class_attr(node: Any, attr: str, default: Any = None) -> Any:
    target = node.get("_target_") if isinstance(node, DictConfig) else None
    if not target:
        return default
    try:
        return getattr(locate(target), attr, default)
    except ImportError:  # reported by _check_targets
        return default


TARGETS = ("dataset", "evaluator", "module", "model.generator", "model.discriminator", "loss", "regularizer",
           "optimizer.generator", "optimizer.discriminator", "optimizer.scheduler")  # fmt: skip


def _check_targets(cfg: DictConfig) -> list[str]:
    """Every ``_target_`` of the config groups can be imported."""
    errors = []
    callbacks = _callback_nodes(cfg)
    names = [f"callbacks.{name}" for name in callbacks] if callbacks is not None else []
    for key in (*TARGETS, *names):
        node = OmegaConf.select(cfg, key, default=None)
        target = node.get("_target_") if isinstance(node, DictConfig) else None
        if not target:
            continue
        try:
            locate(str(target))
        except ImportError as err:
            errors.append(
                f"{key}._target_={target} cannot be imported ({err}); check the name, and that its package is "
                "installed or on PYTHONPATH"
            )
    return errors


def _positive_or_null(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float)) and value >= 1)


def _check_model_fits_dataset(cfg: DictConfig) -> None:
    """Image models take their shape from the dataset (``${dataset.channels}``…): say so plainly
    when the dataset has no such key, instead of OmegaConf's interpolation error; and refuse a
    model of points (the MLPs, ``data_dim`` numbers per sample) on an image dataset, instead of a
    shape error in the first forward pass."""
    generator_target = str(cfg.model.generator.get("_target_", ""))
    if "channels" in cfg.dataset and "data_dim" in cfg.model.generator and "MLP" in generator_target:
        dataset = str(cfg.dataset.get("_target_", "?")).rsplit(".", 1)[-1]
        raise ConfigError(
            f"{generator_target.rsplit('.', 1)[-1]} generates points of {cfg.model.generator.data_dim} numbers, but "
            f"the dataset ({dataset}) is of images: use an image model (model=dcgan or resnet), or the dataset's "
            "preset (e.g. +experiment=digits); model=mlp is for the 2-D toy datasets (ring, grid)"
        )
    try:
        OmegaConf.to_container(cfg.model, resolve=True)
    except InterpolationKeyError as err:
        dataset = str(cfg.dataset.get("_target_", "?")).rsplit(".", 1)[-1]
        generator = str(cfg.model.generator.get("_target_", "?")).rsplit(".", 1)[-1]
        missing = str(err).splitlines()[0]
        raise ConfigError(
            f"{generator} takes its shape from the dataset, but the dataset ({dataset}) has none ({missing}). "
            "Image models (model=dcgan, resnet, infogan) need an image dataset: dataset=digits, mnist, fashion_mnist, "
            "cifar10, celeba or folder; for the 2-D toy datasets use model=mlp."
        ) from None


SCHEMA_SECTIONS = ("ema", "eval", "checkpoint")  # the sections with fixed settings (ganbench.schema)


APPENDED_KEYS = "a + override adds keys only inside config groups such as loss or model"


def _appended_settings(cfg: DictConfig) -> list[str]:
    """Keys that a ``+key=value`` override added where the schema fixes the settings (the root's own,
    ``ema``, ``eval``, ``checkpoint``): Hydra's ``+`` gets past the schema's typo check there."""
    schema = OmegaConf.structured(TrainSchema)
    nodes = [("", cfg, schema)] + [(f"{s}.", cfg.get(s), schema[s]) for s in SCHEMA_SECTIONS]
    errors = []
    for prefix, node, fixed in nodes:
        if not isinstance(node, DictConfig):
            continue
        known = sorted(str(k) for k in fixed.keys())
        for key in (str(k) for k in node.keys()):
            if key in known or (not prefix and key == "hydra"):
                continue
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            where = prefix.rstrip(".") or "the root config"
            closest = f"{prefix}{close[0]}" if close else None
            errors.append(not_a_setting(f"{prefix}{key}", closest, where, known, why=APPENDED_KEYS))
    return errors


def validate_config(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` listing every impossible combination in ``cfg``, without building
    anything. The range of one setting (``n_critic >= 1``, ``0 <= ema.decay < 1`` …) is checked by
    the constructor that takes it, when :func:`ganbench.experiment.build` instantiates the config."""
    _check_model_fits_dataset(cfg)
    errors: list[str] = _appended_settings(cfg) + _check_targets(cfg)

    def need(ok: bool, message: str) -> None:
        if not ok:
            errors.append(message)

    need(0 <= cfg.seed < 2**32, f"seed must be in [0, 2**32), got {cfg.seed}; use e.g. seed=0")
    need(
        1 <= cfg.iterations <= MAX_ITERATIONS,
        f"iterations must be in [1, {MAX_ITERATIONS:_}], got {cfg.iterations}; use e.g. iterations=2500",
    )
    need(0 <= cfg.eval.seed < 2**32, f"eval.seed must be in [0, 2**32), got {cfg.eval.seed}")
    if cfg.model.get("channels_last") and "MLP" in str(cfg.model.generator.get("_target_", "")):
        errors.append("model.channels_last=true needs a convolutional model (model=dcgan or model=resnet), not an MLP")
    need(_positive_or_null(cfg.eval.every), f"eval.every must be >= 1 or null, got {cfg.eval.every}")
    need(_positive_or_null(cfg.checkpoint.every), f"checkpoint.every must be >= 1 or null, got {cfg.checkpoint.every}")
    for side in ("generator", "discriminator"):  # torch's optimisers accept lr=0 (a frozen player), and refuse
        lr = cfg.optimizer[side].get("lr")  # a negative one only when training starts
        need(
            lr is None or (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0),
            f"optimizer.{side}.lr must be a finite number > 0, got {lr}; set e.g. optimizer.{side}.lr=2e-4",
        )

    acc = cfg.accelerator
    precision = str(acc.get("precision", "32-true"))
    if precision in ("16-mixed", "16") and _class_attr(cfg.regularizer, "uses_input_gradients", False):
        errors.append(
            f"precision={precision} with regularizer={cfg.regularizer._target_.rsplit('.', 1)[-1]}: a gradient "
            "penalty under float16 autocast overflows or underflows unless it is rescaled by the GradScaler. "
            "Use accelerator.precision=bf16-mixed (no scaler needed) or 32-true."
        )
    n = requested_devices(acc.get("devices", 1))
    kind = str(acc.get("accelerator", "cpu"))
    if kind in ("gpu", "cuda") and n is not None:
        import torch

        available = torch.cuda.device_count()
        fix = f"use accelerator.devices={available} or fewer" if available else "use accelerator=cpu"
        need(n <= available, f"accelerator.devices={n} but this machine has {available} CUDA GPU(s); {fix}")
    if kind == "cpu" and n is not None and n > (os.cpu_count() or 1) * 4:
        errors.append(f"accelerator.devices={n} CPU processes on {os.cpu_count()} cores is not sensible")

    errors.extend(_callback_errors(cfg))
    errors.extend(_evaluator_errors(cfg))
    from ganbench.models.packing import packing_errors

    errors.extend(packing_errors(cfg.model.discriminator.get("packing", 1), cfg.batch_size))
    need(cfg.eval.get("repeats", 1) >= 1, f"eval.repeats must be >= 1, got {cfg.eval.get('repeats')}")
    from ganbench.training.distributed import distributed_errors

    errors.extend(distributed_errors(cfg))  # batch_size_is, trainer.sync_batchnorm
    from ganbench.slurm import task_layout_errors

    errors.extend(task_layout_errors(cfg.accelerator.get("devices")))  # srun -n2 instead of --ntasks-per-node
    if errors:
        raise ConfigError("invalid config: " + "; ".join(errors))

    if _class_attr(cfg.loss, "name") == "wasserstein" and _class_attr(cfg.regularizer, "name") == "none":
        warnings.warn(
            "loss=wasserstein without a Lipschitz constraint: the critic is unbounded. "
            "Add regularizer=gp (WGAN-GP) or regularizer=clip (original WGAN).",
            stacklevel=2,
        )


# The entries of conf/callbacks/default.yaml that every run has (its record comes from them; build
# runs them as one IterationEvents), with what to do instead of removing each.
OWN_CALLBACKS = {
    "evaluation": "to evaluate only at the end use eval.every=null",
    "signals": "it stops the run cleanly on Ctrl-C or SIGTERM",
    "checkpoint": "to save only checkpoints/last.ckpt, at the end, use checkpoint.every=null",
}


def _callback_nodes(cfg: DictConfig) -> DictConfig | None:
    node = OmegaConf.select(cfg, "callbacks", default=None)
    return node if isinstance(node, DictConfig) else None


def _callback_errors(cfg: DictConfig) -> list[str]:
    """``callbacks`` (``conf/callbacks/``): ganbench's own are all there, every entry is a
    ``_target_`` node, and no setting is left ``???``."""
    node = _callback_nodes(cfg)
    if node is None:
        return ["callbacks is not set; keep the default list (conf/callbacks/default.yaml) and add to it: +callbacks=…"]
    errors = [
        f"callbacks.{name} cannot be removed ({why}); drop '~callbacks.{name}'"
        for name, why in OWN_CALLBACKS.items()
        if name not in node
    ]
    for name in node:
        entry = node[name]
        if not isinstance(entry, DictConfig) or not entry.get("_target_"):
            errors.append(f"callbacks.{name} is not a callback (a node with a _target_); see conf/callbacks/")
            continue
        errors.extend(f"{key} is not set; give it: {key}=…" for key in sorted(OmegaConf.missing_keys(entry)))
    return errors


def _evaluator_errors(cfg: DictConfig) -> list[str]:
    """The evaluator (``conf/evaluator/``): an evaluator for the other kind of data (toy vs images),
    a sample count below 1, and metric names it does not compute with its settings (from its class's
    ``available_metrics``), before anything is built."""
    errors: list[str] = []
    node = cfg.get("evaluator")
    if not isinstance(node, DictConfig) or not node.get("_target_"):
        return ["evaluator is not set; pick one of conf/evaluator/ (evaluator=toy, images, images_is, domain)"]
    n = node.get("num_samples")
    if isinstance(n, int) and n < 1:
        errors.append(f"evaluator.num_samples must be >= 1, got {n}")
    for_toy = _class_attr(node, "for_toy_data")
    toy_data = bool(_class_attr(cfg.dataset, "samples_on_device", False))
    name = str(node._target_).rsplit(".", 1)[-1]
    if for_toy is not None and bool(for_toy) != toy_data:
        fix = "evaluator=toy" if toy_data else "evaluator=images (or images_is, domain)"
        data = "a 2-D toy dataset" if toy_data else "an image dataset"
        errors.append(f"evaluator {name} does not fit {data}; use {fix}, or leave evaluator= to the dataset's default")
        return errors
    available = _class_attr(node, "available_metrics")
    if available is not None:
        from ganbench.evaluation.selection import select_metrics

        settings = {k: v for k, v in OmegaConf.to_container(node, resolve=True).items() if not k.startswith("_")}
        try:
            selected = select_metrics(settings.pop("metrics", None), available(**settings), name)
        except ValueError as err:
            errors.append(str(err))
        except TypeError as err:  # a key the evaluator does not take
            errors.append(f"evaluator ({name}): {err}")
        else:
            reported = _reported_metrics(cfg, selected)
            errors.extend(_optimized_metric_errors(cfg, reported))
            errors.extend(_monitor_errors(cfg, reported))
    return errors


def _reported_metrics(cfg: DictConfig, selected: dict[str, str | None]) -> dict[str, str | None]:
    """The evaluation metrics the run reports: the evaluator's ``selected`` ones, with their
    ``<metric>_seed_std`` (``eval.repeats`` > 1) and ``best_<metric>`` (``eval.best``)."""
    from ganbench.evaluation.aggregate import best_directions, repeat_directions

    reported = dict(selected)
    if cfg.eval.get("repeats", 1) > 1:
        reported.update(repeat_directions(selected))
    if cfg.eval.get("best", False):
        reported.update(best_directions(selected))
    return reported


def _optimized_metric_errors(cfg: DictConfig, reported: dict[str, str | None]) -> list[str]:
    """``optimized_metric`` names a metric the run reports (a search would otherwise score every
    trial at the worst value)."""
    wanted = cfg.get("optimized_metric")
    if wanted is None or str(wanted) in reported:
        return []
    return [f"optimized_metric={wanted} is not a metric this run reports; use one of: {', '.join(reported)}"]


# What GANModule hands to trainer.callback_metrics besides the evaluation metrics (GANModule._record;
# tests/training/test_lightning_logging.py checks the two agree).
TRAINING_METRICS = ("d_loss", "g_loss", "regularizer", "d_real", "d_fake", "d_grad_norm", "g_grad_norm")


def _monitor_errors(cfg: DictConfig, reported: dict[str, str | None]) -> list[str]:
    """The ``monitor`` of each callback (``+callbacks=early_stopping callbacks.early_stopping.monitor=…``)
    names a metric the run logs: Lightning would refuse any other only at its first check."""
    callbacks = _callback_nodes(cfg)
    if callbacks is None:
        return []
    logged = [*reported, *TRAINING_METRICS]
    return [
        f"callbacks.{name}.monitor={node.monitor} is not a metric this run logs; use one of: {', '.join(logged)}"
        for name, node in callbacks.items()
        if isinstance(node, DictConfig) and isinstance(node.get("monitor", None), str) and node.monitor not in logged
    ]
