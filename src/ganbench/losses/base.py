"""The interface every GAN objective implements."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import Tensor


class NoPointwiseOptimumError(NotImplementedError):
    """Raised by :meth:`GANLoss.optimal_output` for objectives whose optimal discriminator is not a
    function of the two densities at a single point (Wasserstein, relativistic average, ...)."""


class GANLoss(ABC):
    """A GAN objective: the loss each player minimises, on raw discriminator outputs.

    Subclasses implement :meth:`discriminator_loss` and :meth:`generator_loss`. Both take the
    discriminator's raw outputs (logits for the sigmoid family, unbounded scores otherwise) and
    return a scalar mean over the batch.

    Class attributes:
        output_is_logit: the outputs are logits of P(real). Logged D outputs are then shown as
            probabilities σ(d); otherwise they are shown raw.
        uses_real_for_generator: the generator loss needs the discriminator's outputs on real data
            (relativistic losses); the training loop then passes ``real_out`` to
            :meth:`generator_loss`.
        name: the short name used in configs, tables and run names.
    """

    output_is_logit: bool = False
    uses_real_for_generator: bool = False
    name: str = "loss"

    @abstractmethod
    def discriminator_loss(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        """Loss minimised by the discriminator, given its outputs on real and fake samples."""

    @abstractmethod
    def generator_loss(self, fake_out: Tensor, real_out: Tensor | None = None) -> Tensor:
        """Loss minimised by the generator. ``real_out`` is used only by relativistic losses."""

    def optimal_output(self, p_data: Tensor, p_model: Tensor) -> Tensor:
        """The raw discriminator output that minimises :meth:`discriminator_loss` at points where
        the data density is ``p_data`` and the model density is ``p_model`` (same shapes).

        Objectives without a pointwise optimum raise :class:`NoPointwiseOptimumError`.
        """
        raise NoPointwiseOptimumError(
            f"{type(self).__name__} does not define optimal_output: implement it if the optimal "
            "discriminator of this objective depends only on the two densities at a point."
        )

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


def check_densities(p_data: Tensor, p_model: Tensor) -> tuple[Tensor, Tensor]:
    """Validate two density tensors for ``optimal_output``: same shape, finite, non-negative, and
    not both zero at any point (the optimum is undefined where neither distribution has mass)."""
    p_data, p_model = torch.as_tensor(p_data), torch.as_tensor(p_model)
    if p_data.shape != p_model.shape:
        raise ValueError(
            f"optimal_output needs p_data and p_model of the same shape, got {tuple(p_data.shape)} "
            f"and {tuple(p_model.shape)}; evaluate both densities at the same points."
        )
    if not (torch.isfinite(p_data).all() and torch.isfinite(p_model).all()):
        raise ValueError("optimal_output needs finite densities; got inf or nan in p_data or p_model.")
    if (p_data < 0).any() or (p_model < 0).any():
        raise ValueError("optimal_output needs densities >= 0; got a negative value in p_data or p_model.")
    if ((p_data + p_model) == 0).any():
        raise ValueError(
            "optimal_output is undefined where p_data = p_model = 0 (no sample can land there); "
            "evaluate it only where at least one density is positive."
        )
    return p_data, p_model


def log_ratio(p_data: Tensor, p_model: Tensor) -> Tensor:
    """log(p_data / p_model), ±inf where one density is zero, computed as a difference of logs."""
    return torch.log(p_data) - torch.log(p_model)
