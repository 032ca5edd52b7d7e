"""Hinge GAN."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ganbench.losses.base import DivergenceIdentity, GANLoss, check_densities


class HingeLoss(GANLoss):
    """Hinge GAN, Lim & Ye 2017, "Geometric GAN"; as used by Miyato et al. 2018 (SNGAN).

        L_D = E[relu(1 − d_real)] + E[relu(1 + d_fake)]
        L_G = −E[d_fake]

    The optimal discriminator is d* = sign(p_data − p_model) (any value in [−1, 1] where the
    densities are equal), where L_D = 2 − 2·TV(p_data, p_model) with
    TV = ½∫|p_data − p_model|.
    """

    name = "hinge"

    def discriminator_loss(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        return F.relu(1.0 - real_out).mean() + F.relu(1.0 + fake_out).mean()

    def generator_loss(self, fake_out: Tensor, real_out: Tensor | None = None) -> Tensor:
        return -fake_out.mean()

    def optimal_output(self, p_data: Tensor, p_model: Tensor) -> Tensor:
        """d* = sign(p_data − p_model): pointwise, p·relu(1 − d) + q·relu(1 + d) is linear with slope
        q − p on [−1, 1] and grows outside it. Where p_data = p_model every d in [−1, 1] is optimal
        and 0 is returned."""
        p, q = check_densities(p_data, p_model)
        return torch.sign(p - q)

    def optimum_identity(self) -> DivergenceIdentity:
        """L_D(d*) = 2 − 2·TV(P, Q)."""
        return DivergenceIdentity("total_variation", -2.0, 2.0)
