"""Building blocks shared by the image models: normalisation choice, spectral norm, shape checks."""

from __future__ import annotations

import math

from torch import nn

NORMS = ("batch", "layer", "instance", "none")


def normalization(kind: str, channels: int) -> nn.Module:
    """A 2-D normalisation layer over ``channels`` feature maps.

    - ``batch``: BatchNorm2d, statistics over the batch (couples the samples of a batch, so it is
      refused with gradient penalties in the discriminator, see :mod:`ganbench.models.checks`);
    - ``layer``: layer norm over (C, H, W) per sample, with a per-channel affine (GroupNorm with one
      group), as recommended for WGAN-GP critics (Gulrajani et al. 2017, §4);
    - ``instance``: per-sample, per-channel normalisation over (H, W) with an affine (GroupNorm with
      one group per channel);
    - ``none``: identity.
    """
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    if kind == "instance":
        return nn.GroupNorm(channels, channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown normalisation {kind!r}: choose one of {', '.join(NORMS)}")


def spectral(module: nn.Module, enabled: bool) -> nn.Module:
    """Wrap ``module`` in spectral normalisation (Miyato et al. 2018) when ``enabled``."""
    return nn.utils.parametrizations.spectral_norm(module) if enabled else module


def stages_for(resolution: int, model: str, minimum: int = 8) -> int:
    """log2(resolution) for a power-of-two ``resolution`` >= ``minimum``, with a clear error otherwise."""
    if resolution < minimum or resolution & (resolution - 1):
        raise ValueError(
            f"{model} needs a power-of-two resolution >= {minimum}, got {resolution}; "
            f"set dataset.resolution to one of {[minimum * 2**i for i in range(4)]} "
            "(the dataset resizes its images to it)"
        )
    return int(math.log2(resolution))
