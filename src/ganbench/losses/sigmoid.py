"""The sigmoid (cross-entropy) family: minimax and non-saturating GAN losses.

Both share the discriminator loss of Goodfellow et al. 2014, binary cross-entropy with label 1
for real and 0 for fake, written on logits d with softplus(x) = log(1 + eˣ):

    L_D = E[softplus(−d_real)] + E[softplus(d_fake)]
        = −E[log σ(d_real)] − E[log(1 − σ(d_fake))]

softplus is evaluated stably for any d, so ±100 logits give finite values and gradients; we
never take log(σ(d)) or BCE on probabilities.

One-sided label smoothing (Salimans et al. 2016, "Improved Techniques for Training GANs", §3.4)
replaces the real label 1 by α = ``real_label`` < 1 and keeps the fake label at 0:

    L_D = E[α·softplus(−d_real) + (1 − α)·softplus(d_real)] + E[softplus(d_fake)]

Pointwise, p·[α·softplus(−d) + (1 − α)·softplus(d)] + q·softplus(d) is minimised where
σ(d) = α·p/(p + q), i.e. d* = log(α·p / ((1 − α)·p + q)); with α = 1 this is log(p/q).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ganbench.losses.base import DivergenceIdentity, GANLoss, check_densities


class _SigmoidLoss(GANLoss):
    """Shared discriminator side of the sigmoid family, with optional one-sided label smoothing."""

    output_is_logit = True

    def __init__(self, real_label: float = 1.0) -> None:
        if not 0.0 < real_label <= 1.0:
            raise ValueError(
                f"real_label must be in (0, 1], got {real_label}; use 1.0 for no smoothing or e.g. 0.9 "
                "for one-sided label smoothing (the fake label stays 0)."
            )
        self.real_label = float(real_label)

    def discriminator_loss(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        alpha = self.real_label
        real_term = F.softplus(-real_out)
        if alpha != 1.0:
            real_term = alpha * real_term + (1.0 - alpha) * F.softplus(real_out)
        return real_term.mean() + F.softplus(fake_out).mean()

    def optimal_output(self, p_data: Tensor, p_model: Tensor) -> Tensor:
        """d* = log(α·p_data / ((1 − α)·p_data + p_model)); log(p_data/p_model) without smoothing."""
        p, q = check_densities(p_data, p_model)
        alpha = self.real_label
        return torch.log(alpha * p) - torch.log((1.0 - alpha) * p + q)

    def optimum_identity(self) -> DivergenceIdentity | None:
        """L_D(d*) = log 4 − 2·JSD(P, Q) (Goodfellow et al. 2014, Theorem 1); with label smoothing
        (α < 1) the optimum is not an affine function of a standard divergence: None."""
        return DivergenceIdentity("jensen_shannon", -2.0, math.log(4.0)) if self.real_label == 1.0 else None


class MinimaxLoss(_SigmoidLoss):
    """Minimax (saturating) GAN, Goodfellow et al. 2014, "Generative Adversarial Nets", eq. 1.

    L_D = E[softplus(−d_real)] + E[softplus(d_fake)]
    L_G = E[log(1 − σ(d_fake))] = −E[softplus(d_fake)]

    The generator minimises exactly the value function the discriminator maximises. Its gradient
    ∂L_G/∂d_fake = −σ(d_fake) vanishes when the discriminator confidently rejects fakes
    (σ(d_fake) → 0): the loss saturates early in training. At the optimal discriminator
    d* = log(p_data/p_model), L_D = log 4 − 2·JSD(p_data ‖ p_model).

    ``real_label`` < 1 turns on one-sided label smoothing (see the module docstring).
    """

    name = "minimax"

    def generator_loss(self, fake_out: Tensor, real_out: Tensor | None = None) -> Tensor:
        return -F.softplus(fake_out).mean()


class NonSaturatingLoss(_SigmoidLoss):
    """Non-saturating GAN, Goodfellow et al. 2014, section 3 ("maximise log D(G(z))").

    L_D = E[softplus(−d_real)] + E[softplus(d_fake)]
    L_G = −E[log σ(d_fake)] = E[softplus(−d_fake)]

    Same fixed points as minimax, but ∂L_G/∂d_fake = σ(d_fake) − 1 → −1 as σ(d_fake) → 0, so the
    generator still learns when the discriminator wins. Note that −BCE(ones, D(G(z))) is *not*
    this loss: it equals +log D(G(z)) and drives D(G(z)) to 0.

    ``real_label`` < 1 turns on one-sided label smoothing (see the module docstring).
    """

    name = "nonsaturating"

    def generator_loss(self, fake_out: Tensor, real_out: Tensor | None = None) -> Tensor:
        return F.softplus(-fake_out).mean()
