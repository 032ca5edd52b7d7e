"""Multi-process (DDP) details that the training loop must get right with BatchNorm and batch sizes.

- **Identical statistics on every rank.** BatchNorm running statistics are buffers that every
  rank updates from its own minibatches, so the ranks' statistics drift apart between the buffer
  broadcasts DDP makes at the start of each forward. Each rank then samples its share of an
  evaluation with its own statistics (the FID of a mixture of generators), and a checkpoint keeps
  rank 0's only. :func:`broadcast_buffers` copies rank 0's buffers to every rank; the evaluation
  and checkpoint callbacks call it first.
- **SyncBatchNorm** (``trainer.sync_batchnorm``): ``auto`` turns it on for multi-GPU runs whose
  generator or discriminator has BatchNorm, so the statistics are those of the global batch, as on
  one GPU with the same total batch. PyTorch's SyncBatchNorm runs on GPUs only.
- **Batch size** (``batch_size_is``): ``per_process`` (each of N processes draws ``batch_size``, an
  N× larger effective batch) or ``global`` (``batch_size`` in total, ``batch_size / N`` each).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ganbench.errors import ConfigError, requested_devices
from ganbench.models.checks import batchnorm_layers

BATCH_SIZE_IS = ("per_process", "global")


def broadcast_buffers(module: nn.Module, src: int = 0) -> None:
    """Overwrite every buffer of ``module`` (BatchNorm running mean/var and counters, spectral-norm
    vectors, …) with rank ``src``'s copy. A no-op without an initialised process group of size > 1.
    Every rank must call it (a collective), with the same module structure."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return
    with torch.no_grad():
        for buffer in module.buffers():
            dist.broadcast(buffer, src)


def gather_from_ranks(obj: Any) -> list[Any]:
    """``obj`` of every rank, in rank order (``[obj]`` without an initialised process group of size
    > 1). A collective: every rank must call it. The objects travel pickled (``all_gather_object``),
    so they come back as the same tensors and plain containers."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return [obj]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def has_batchnorm(*modules: nn.Module) -> bool:
    return any(batchnorm_layers(m) for m in modules)


def world_size(accelerator: Any) -> int | None:
    """Processes a run's accelerator config starts: devices × nodes (``None`` when ``devices`` is
    ``auto`` on a GPU machine we cannot count)."""
    devices = requested_devices(accelerator.get("devices", 1))
    kind = str(accelerator.get("accelerator", "cpu"))
    if devices is None or devices == -1:
        if kind in ("gpu", "cuda", "auto"):
            devices = torch.cuda.device_count() or 1
        else:
            devices = 1
    return int(devices) * int(accelerator.get("num_nodes", 1) or 1)


def resolve_sync_batchnorm(setting: Any, accelerator: Any, *modules: nn.Module) -> bool:
    """``trainer.sync_batchnorm``: ``auto`` → on for a multi-process GPU run whose networks have
    BatchNorm; ``true`` on a CPU run is refused (PyTorch's SyncBatchNorm needs GPUs)."""
    kind = str(accelerator.get("accelerator", "cpu"))
    multi = (world_size(accelerator) or 1) > 1
    on_gpu = kind in ("gpu", "cuda")
    if setting in (None, "auto"):
        return bool(multi and on_gpu and has_batchnorm(*modules))
    if isinstance(setting, bool):
        if setting and not on_gpu:
            raise ConfigError(
                f"trainer.sync_batchnorm=true with accelerator={kind}: PyTorch's SyncBatchNorm runs on GPUs only. "
                "Use trainer.sync_batchnorm=auto (or false) on CPUs; ganbench still gives every rank rank 0's "
                "BatchNorm statistics before each evaluation and checkpoint."
            )
        return setting
    raise ConfigError(f"trainer.sync_batchnorm={setting!r} is not an option: choose auto, true or false")


def per_process_batch_size(cfg: Any) -> int:
    """The minibatch each process draws: ``batch_size``, or ``batch_size / processes`` when
    ``batch_size_is=global`` (which must divide evenly)."""
    mode = cfg.get("batch_size_is", "per_process")
    if mode not in BATCH_SIZE_IS:
        raise ConfigError(f"batch_size_is={mode!r} is not an option: choose one of {', '.join(BATCH_SIZE_IS)}")
    if mode == "per_process":
        return int(cfg.batch_size)
    n = world_size(cfg.accelerator) or 1
    if cfg.batch_size % n:
        raise ConfigError(
            f"batch_size={cfg.batch_size} with batch_size_is=global cannot be split evenly over {n} processes; "
            f"choose a multiple of {n} (e.g. batch_size={n * max(1, round(cfg.batch_size / n))})"
        )
    return int(cfg.batch_size) // n


def batch_size_errors(cfg: Any) -> list[str]:
    """Problems with ``batch_size_is`` (for :func:`ganbench.validation.validate_config`)."""
    try:
        per_process_batch_size(cfg)
    except ConfigError as err:
        return [str(err)]
    return []


def with_per_process_batch(cfg: Any) -> Any:
    """``cfg`` itself, or a copy whose ``batch_size`` is the per-process batch (``batch_size_is=global``
    under DDP), so that the datamodule (``${batch_size}``) and the training loop draw that many."""
    import copy

    n = per_process_batch_size(cfg)
    if n == cfg.batch_size:
        return cfg
    cfg = copy.deepcopy(cfg)
    cfg.batch_size = n
    return cfg


def trainer_arguments(trainer: Any, accelerator: Any, *modules: nn.Module) -> dict[str, Any]:
    """The ``lightning.Trainer`` arguments of ``cfg.trainer`` with ``sync_batchnorm`` resolved."""
    from omegaconf import OmegaConf

    args = OmegaConf.to_container(trainer) if OmegaConf.is_config(trainer) else dict(trainer)
    args["sync_batchnorm"] = resolve_sync_batchnorm(args.pop("sync_batchnorm", "auto"), accelerator, *modules)
    return args


def distributed_errors(cfg: Any) -> list[str]:
    """Config problems of ``batch_size_is`` and ``trainer.sync_batchnorm`` (for ``validate_config``)."""
    errors = batch_size_errors(cfg)
    try:
        resolve_sync_batchnorm(cfg.trainer.get("sync_batchnorm", "auto"), cfg.accelerator)
    except ConfigError as err:
        errors.append(str(err))
    return errors
