"""Gradient penalties on the discriminator's input gradient."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ganbench.models.packing import packing_of
from ganbench.regularizers.base import Regularizer, input_gradient


def _check_weight(name: str, value: float) -> float:
    if value < 0:
        raise ValueError(f"regularizer.{name} must be >= 0, got {value}")
    return float(value)


def _per_sample_uniform(reference: Tensor, packing: int = 1) -> Tensor:
    """One U[0, 1) draw per sample, shaped to broadcast over the sample's other dimensions; with
    ``packing`` m > 1, one draw per pack of m consecutive samples, shared by the pack's samples."""
    n = reference.shape[0]
    shape = (1,) * (reference.dim() - 1)
    if packing == 1:
        return torch.rand((n, *shape), device=reference.device, dtype=reference.dtype)
    draws = torch.rand((n // packing, *shape), device=reference.device, dtype=reference.dtype)
    return draws.repeat_interleave(packing, dim=0)


def interpolate(real: Tensor, fake: Tensor, packing: int = 1) -> Tensor:
    """x̂ = ε·x_real + (1 − ε)·x_fake with one ε ~ U[0, 1] per pair (the WGAN-GP sampling).

    With PacGAN ``packing`` m, the pairs are packs: pack j of x̂ interpolates real pack j and fake
    pack j with one ε_j, so x̂ is itself a pack of m points on one line segment per coordinate block
    (the segment between two packed inputs of D_m), and its gradient norm is that of D_m."""
    n = min(real.shape[0], fake.shape[0])
    n -= n % packing
    real, fake = real[:n].detach(), fake[:n].detach()
    eps = _per_sample_uniform(real, packing)
    return eps * real + (1.0 - eps) * fake


class GradientPenalty(Regularizer):
    """WGAN-GP, Gulrajani et al. 2017, "Improved Training of Wasserstein GANs", Algorithm 1.

        R = λ·E_x̂[(‖∇ₓ̂ D(x̂)‖₂ − 1)²],  x̂ = ε·x_real + (1 − ε)·x_fake,  ε ~ U[0, 1] per sample

    ``weight`` is λ (10 in the paper). Pairs of real and fake samples are interpolated with one ε
        _, grad = input_gradient(discriminator, interpolate(real, fake, packing_of(discriminator)))
        return self.weight * (grad.norm(2, dim=1) - self.target_norm).square().mean()
    """

    name = "gp"
    uses_input_gradients = True

    def __init__(self, weight: float = 10.0, target_norm: float = 1.0) -> None:
        self.weight = _check_weight("weight", weight)
        self.target_norm = _check_weight("target_norm", target_norm)

    def penalty(self, discriminator: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        _, grad = input_gradient(discriminator, interpolate(real, fake, packing_of(discriminator)))
        return self.weight * (grad.norm(2, dim=1) - self.target_norm).square().mean()


class OneSidedGradientPenalty(Regularizer):
    """WGAN-LP, Petzka, Fischer & Lukovnikov 2018, "On the regularization of Wasserstein GANs",
    the one-sided ("Lipschitz") penalty:

        R = λ·E_x̂[max(0, ‖∇ₓ̂ D(x̂)‖₂ − 1)²],  x̂ sampled as in WGAN-GP

    Unlike WGAN-GP it only penalises gradients steeper than 1, which is what the 1-Lipschitz
    constraint asks for; a flat critic is not pushed to slope 1. ``weight`` is λ.
    """

    name = "lp"
    uses_input_gradients = True

    def __init__(self, weight: float = 10.0) -> None:
        self.weight = _check_weight("weight", weight)

    def penalty(self, discriminator: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        _, grad = input_gradient(discriminator, interpolate(real, fake, packing_of(discriminator)))
        return self.weight * torch.relu(grad.norm(2, dim=1) - 1.0).square().mean()


class SquaredGradientPenalty(Regularizer):
    """R1 and R2, Mescheder, Geiger & Nowozin 2018, "Which Training Methods for GANs do actually
    Converge?", eqs. 9 and 10: the squared gradient norm of D on real (R1) or generated (R2) data.

        R1 = (γ/2)·E_real[‖∇ₓ D(x)‖₂²]        (``on="real"``)
        R2 = (γ/2)·E_fake[‖∇ₓ D(x)‖₂²]        (``on="fake"``)

    ``gamma`` is γ.
    """

    uses_input_gradients = True
    SIDES = ("real", "fake")

    def __init__(self, gamma: float = 1.0, on: str = "real") -> None:
        if on not in self.SIDES:
            raise ValueError(f"regularizer.on must be real (R1) or fake (R2), got {on!r}")
        self.gamma = _check_weight("gamma", gamma)
        self.on = on
        self.name = "r1" if on == "real" else "r2"

    def penalty(self, discriminator: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        _, grad = input_gradient(discriminator, real if self.on == "real" else fake)
        return 0.5 * self.gamma * grad.square().sum(dim=1).mean()


class R1Penalty(SquaredGradientPenalty):
    """R1: :class:`SquaredGradientPenalty` on real data."""

    def __init__(self, gamma: float = 1.0) -> None:
        super().__init__(gamma, on="real")


class R2Penalty(SquaredGradientPenalty):
    """R2: :class:`SquaredGradientPenalty` on generated data."""

    def __init__(self, gamma: float = 1.0) -> None:
        super().__init__(gamma, on="fake")


class DRAGANPenalty(Regularizer):
    """DRAGAN, Kodali, Abernethy, Hays & Kira 2017, "On Convergence and Stability of GANs"
    (arXiv:1705.07215): a gradient penalty in a neighbourhood of the real data only.

        R = λ·E[(‖∇ₓ̂ D(x̂)‖₂ − k)²],  x̂ = x + α·c·std(x)·u,
        x ~ real batch,  u ~ U[0, 1) per element,  α ~ U[0, 1] per sample

    This is the perturbation of the authors' reference implementation (std(x) is the standard
    deviation of the whole real batch); the paper writes it as x + δ with δ a random perturbation
    of the data. Defaults λ = 10, c = 0.5, k = 1 as in that code. Fakes are not used.
    """

    name = "dragan"
    uses_input_gradients = True

    def __init__(self, weight: float = 10.0, perturbation: float = 0.5, target_norm: float = 1.0) -> None:
        self.weight = _check_weight("weight", weight)
        self.perturbation = _check_weight("perturbation", perturbation)
        self.target_norm = _check_weight("target_norm", target_norm)

    def perturb(self, real: Tensor, packing: int = 1) -> Tensor:
        """The points x̂ where the gradient is penalised (random, from torch's global generator);
        with PacGAN ``packing`` m, α is drawn once per pack."""
        real = real.detach()
        if real.shape[0] < 2:
            raise ValueError("DRAGAN needs at least 2 real samples per batch to estimate std(x).")
        noise = torch.rand_like(real)
        alpha = _per_sample_uniform(real, packing)
        return real + alpha * self.perturbation * real.std() * noise

    def penalty(self, discriminator: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        _, grad = input_gradient(discriminator, self.perturb(real, packing_of(discriminator)))
        return self.weight * (grad.norm(2, dim=1) - self.target_norm).square().mean()
