"""Checks on a model/regularizer pairing, run before training starts."""

from __future__ import annotations

from typing import Any

from torch import nn

# Every BatchNorm class torch defines (its common base class is private).
BATCHNORM_TYPES = (
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.LazyBatchNorm1d,
    nn.LazyBatchNorm2d,
    nn.LazyBatchNorm3d,
    nn.SyncBatchNorm,
)


def batchnorm_layers(module: nn.Module) -> list[str]:
    """Names of the BatchNorm layers (any dimension, SyncBatchNorm included) inside ``module``."""
    return [name or type(module).__name__ for name, m in module.named_modules() if isinstance(m, BATCHNORM_TYPES)]


def check_regularizer_compatible(discriminator: nn.Module, regularizer: Any) -> None:
    """Refuse a regularizer that penalises ∇ₓD(x) when the discriminator contains BatchNorm.

    Gradient penalties (WGAN-GP, R1) constrain the gradient of D's output for *one* sample with
    respect to *that* sample. With BatchNorm, D's output for a sample depends on every other
    sample of the batch through the batch statistics, so that per-sample gradient is not the
    quantity the penalty is defined on and the constraint is not enforced (Gulrajani et al. 2017,
    §4, "No critic batch normalization").
    """
    if not getattr(regularizer, "uses_input_gradients", False):
        return
    layers = batchnorm_layers(discriminator)
    if layers:
        shown = ", ".join(layers[:4]) + (f" and {len(layers) - 4} more" if len(layers) > 4 else "")
        raise ValueError(
            f"{type(regularizer).__name__} penalises the discriminator's input gradient per sample, but "
            f"{type(discriminator).__name__} has BatchNorm layers ({shown}). With BatchNorm, D(x) of one sample "
            "depends on the whole batch, so the per-sample gradient the penalty constrains is not defined "
            "(Gulrajani et al. 2017, §4). Use a discriminator without batch statistics, e.g. "
            "model.discriminator.norm=layer (or instance, or none, optionally with "
            "model.discriminator.spectral_norm=true), or pick a regularizer that does not use input gradients "
            "(regularizer=none or regularizer=clip)."
        )
