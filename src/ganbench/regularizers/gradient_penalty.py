"""Gradient penalties on the discriminator's input gradient."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ganbench.regularizers.base import Regularizer, input_gradient


class GradientPenalty(Regularizer):
    """WGAN-GP, Gulrajani et al. 2017, "Improved Training of Wasserstein GANs", Algorithm 1.

        R = λ·E_x̂[(‖∇ₓ̂ D(x̂)‖₂ − 1)²],  x̂ = ε·x_real + (1 − ε)·x_fake,  ε ~ U[0, 1] per sample

    ``weight`` is λ (10 in the paper). Pairs of real and fake samples are interpolated with one ε
    per sample, broadcast over the sample's other dimensions.
    """

    name = "gp"
    uses_input_gradients = True

    def __init__(self, weight: float = 10.0) -> None:
        if weight < 0:
            raise ValueError(f"regularizer.weight must be >= 0, got {weight}")
        self.weight = float(weight)

    def penalty(self, discriminator: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        n = min(real.shape[0], fake.shape[0])
        real, fake = real[:n].detach(), fake[:n].detach()
        eps = torch.rand((n,) + (1,) * (real.dim() - 1), device=real.device, dtype=real.dtype)
        interpolated = eps * real + (1.0 - eps) * fake
        _, grad = input_gradient(discriminator, interpolated)
        return self.weight * (grad.norm(2, dim=1) - 1.0).square().mean()


class R1Penalty(Regularizer):
    """R1, Mescheder, Geiger & Nowozin 2018, "Which Training Methods for GANs do actually
    Converge?", eq. 9.

        R = (γ/2)·E_real[‖∇ₓ D(x)‖₂²]

    ``gamma`` is γ. It penalises the gradient on real data only.
    """

    name = "r1"
    uses_input_gradients = True

    def __init__(self, gamma: float = 1.0) -> None:
        if gamma < 0:
            raise ValueError(f"regularizer.gamma must be >= 0, got {gamma}")
        self.gamma = float(gamma)

    def penalty(self, discriminator: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        _, grad = input_gradient(discriminator, real)
        return 0.5 * self.gamma * grad.square().sum(dim=1).mean()
