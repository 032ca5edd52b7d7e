"""Building blocks shared by the image models: normalisation choice, spectral norm, shape checks."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize

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


class SpectralNorm(nn.Module):
    """Spectral normalisation of a weight (Miyato et al. 2018), W / σ(W), as a parametrization.

    The same computation, initialisation (random u, v, then 15 power iterations) and state-dict
    keys (``parametrizations.weight.0._u``/``_v``) as ``torch.nn.utils.parametrizations.spectral_norm``,
    with one difference: the power iteration, which updates the buffers u and v in place, runs
    outside compiled graphs and hands the graph copies of them. Under ``torch.compile`` (inductor),
    torch's version saves the buffer itself for the backward, so two discriminator calls before one
    backward (D(real), then D(fake)) fail with "modified by an inplace operation".
    """

    def __init__(self, weight: Tensor, dim: int = 0, n_power_iterations: int = 1, eps: float = 1e-12) -> None:
        super().__init__()
        self.dim, self.n_power_iterations, self.eps = dim, n_power_iterations, eps
        if weight.ndim > 1:
            matrix = self._matrix(weight)
            u = F.normalize(matrix.new_empty(matrix.shape[0]).normal_(0, 1), dim=0, eps=eps)
            v = F.normalize(matrix.new_empty(matrix.shape[1]).normal_(0, 1), dim=0, eps=eps)
            self.register_buffer("_u", u)
            self.register_buffer("_v", v)
            self._power_method(matrix, 15)

    def _matrix(self, weight: Tensor) -> Tensor:
        if self.dim != 0:
            weight = weight.movedim(self.dim, 0)
        return weight.flatten(1)

    @torch.no_grad()
    def _power_method(self, matrix: Tensor, iterations: int) -> None:
        for _ in range(iterations):
            F.normalize(torch.mv(matrix, self._v), dim=0, eps=self.eps, out=self._u)
            F.normalize(torch.mv(matrix.H, self._u), dim=0, eps=self.eps, out=self._v)

    @torch.compiler.disable
    def _singular_vectors(self, matrix: Tensor) -> tuple[Tensor, Tensor]:
        """Copies of u and v, after a power-iteration step in training mode (eager, see above)."""
        if self.training:
            self._power_method(matrix.detach(), self.n_power_iterations)
        return self._u.clone(), self._v.clone()

    def forward(self, weight: Tensor) -> Tensor:
        if weight.ndim == 1:
            return F.normalize(weight, dim=0, eps=self.eps)
        matrix = self._matrix(weight)
        u, v = self._singular_vectors(matrix)
        return weight / torch.vdot(u, torch.mv(matrix, v))


def spectral(module: nn.Module, enabled: bool) -> nn.Module:
    """Wrap ``module``'s weight in :class:`SpectralNorm` when ``enabled`` (dim 1 for transposed
    convolutions, whose output channels are their second dimension, as torch does)."""
    if not enabled:
        return module
    transposed = isinstance(module, nn.ConvTranspose1d | nn.ConvTranspose2d | nn.ConvTranspose3d)
    parametrize.register_parametrization(module, "weight", SpectralNorm(module.weight, dim=1 if transposed else 0))
    return module


def stages_for(resolution: int, model: str, minimum: int = 8) -> int:
    """log2(resolution) for a power-of-two ``resolution`` >= ``minimum``, with a clear error otherwise."""
    if resolution < minimum or resolution & (resolution - 1):
        raise ValueError(
            f"{model} needs a power-of-two resolution >= {minimum}, got {resolution}; "
            f"set dataset.resolution to one of {[minimum * 2**i for i in range(4)]} "
            "(the dataset resizes its images to it)"
        )
    return int(math.log2(resolution))
