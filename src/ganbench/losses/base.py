"""The interface every GAN objective implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import Tensor


class NoPointwiseOptimumError(NotImplementedError):
    """Raised by :meth:`GANLoss.optimal_output` for objectives whose optimal discriminator is not a
    function of the two densities at a single point (Wasserstein, relativistic average, ...)."""


@dataclass(frozen=True)
class DivergenceIdentity:
    """What the discriminator loss equals at its optimum: L_D(d*) = offset + scale · D(P, Q).

    ``divergence`` names one of :data:`ganbench.losses.theory.DIVERGENCES` (``jensen_shannon``,
    ``total_variation``, ``kl``, …), which computes D from its definition by quadrature. The theory
    tests (tests/losses/test_theory.py) compare it with the loss evaluated at
    :meth:`GANLoss.optimal_output` on samples, for every objective of ``conf/loss/`` that declares one.
    """

    divergence: str
    scale: float
    offset: float = 0.0

    def value(self, dist_p, dist_q) -> float:
        """offset + scale · D(P, Q) for two :class:`ganbench.losses.theory.Mixture1D`."""
        from ganbench.losses.theory import DIVERGENCES

        if self.divergence not in DIVERGENCES:
            raise ValueError(f"unknown divergence {self.divergence!r}; choose one of {sorted(DIVERGENCES)}")
        return self.offset + self.scale * DIVERGENCES[self.divergence](dist_p, dist_q)


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
        shift_invariant: only differences of outputs matter (relativistic losses): adding a
            constant to every output leaves both losses unchanged, so an optimum holds up to a
            constant.

    What a loss supports of the theory checks (tests/losses) it declares here, not in the tests:
    :attr:`has_pointwise_optimum` (is :meth:`optimal_output` defined?) and
    :meth:`optimum_identity` (the divergence its discriminator loss equals at the optimum, if known).
    """

    output_is_logit: bool = False
    uses_real_for_generator: bool = False
    shift_invariant: bool = False
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

    @property
    def has_pointwise_optimum(self) -> bool:
        """Whether :meth:`optimal_output` is defined. By default: whether the class overrides it.
        Classes that override it only to raise :class:`NoPointwiseOptimumError` (with the reason)
        override this too."""
        return type(self).optimal_output is not GANLoss.optimal_output

    def optimum_identity(self) -> DivergenceIdentity | None:
        """L_D at :meth:`optimal_output` as a divergence of P and Q, or None where no such affine
        identity is known (the optimum is then still checked to be a minimum)."""
        return None

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
