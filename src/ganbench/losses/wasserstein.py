"""Wasserstein GAN."""

from __future__ import annotations

from torch import Tensor

from ganbench.losses.base import GANLoss, NoPointwiseOptimumError


class WassersteinLoss(GANLoss):
    """Wasserstein GAN, Arjovsky, Chintala & Bottou 2017, "Wasserstein GAN", eq. 3.

        L_D = E[d_fake] − E[d_real]
        L_G = −E[d_fake]

    By Kantorovich–Rubinstein duality, sup over 1-Lipschitz critics d of E_p[d] − E_q[d] is
    W₁(p, q), so a critic that minimises L_D under a Lipschitz constraint reaches −W₁. The
    constraint is not part of the loss: pair it with a regularizer (``regularizer=gp`` for
    WGAN-GP, Gulrajani et al. 2017, or ``regularizer=clip`` for the original weight clipping).
    There is no pointwise optimal critic. The generator gradient is −1 per sample, whatever the
    critic's value: it never saturates.
    """

    name = "wasserstein"
    has_pointwise_optimum = False
    shift_invariant = True  # L_D = E[d_fake] − E[d_real]

    def discriminator_loss(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        return fake_out.mean() - real_out.mean()

    def generator_loss(self, fake_out: Tensor, real_out: Tensor | None = None) -> Tensor:
        return -fake_out.mean()

    def optimal_output(self, p_data: Tensor, p_model: Tensor) -> Tensor:
        raise NoPointwiseOptimumError(
            "wasserstein has no pointwise optimal critic: L_D = E[d_fake] − E[d_real] is linear in d, so "
            "without a constraint it is unbounded below, and the optimal 1-Lipschitz critic (the "
            "Kantorovich potential) depends on the whole of both distributions, not on the densities at one "
            "point. Estimate W₁ with a trained critic under a Lipschitz constraint (regularizer=gp) instead."
        )
