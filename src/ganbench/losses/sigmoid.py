"""The sigmoid (cross-entropy) family: minimax and non-saturating GAN losses.

Both share the discriminator loss of Goodfellow et al. 2014, binary cross-entropy with label 1
for real and 0 for fake, written on logits d with softplus(x) = log(1 + eˣ):

    L_D = E[softplus(−d_real)] + E[softplus(d_fake)]
        = −E[log σ(d_real)] − E[log(1 − σ(d_fake))]

softplus is evaluated stably for any d, so ±100 logits give finite values and gradients; we
never take log(σ(d)) or BCE on probabilities.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from ganbench.losses.base import GANLoss


def _sigmoid_discriminator_loss(real_out: Tensor, fake_out: Tensor) -> Tensor:
    return F.softplus(-real_out).mean() + F.softplus(fake_out).mean()


class MinimaxLoss(GANLoss):
    """Minimax (saturating) GAN, Goodfellow et al. 2014, "Generative Adversarial Nets", eq. 1.

    L_D = E[softplus(−d_real)] + E[softplus(d_fake)]
    L_G = E[log(1 − σ(d_fake))] = −E[softplus(d_fake)]

    The generator minimises exactly the value function the discriminator maximises. Its gradient
    ∂L_G/∂d_fake = −σ(d_fake) vanishes when the discriminator confidently rejects fakes
    (σ(d_fake) → 0): the loss saturates early in training. At the optimal discriminator
    d* = log(p_data/p_model), L_D = log 4 − 2·JSD(p_data ‖ p_model).
    """

    output_is_logit = True
    name = "minimax"

    def discriminator_loss(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        return _sigmoid_discriminator_loss(real_out, fake_out)

    def generator_loss(self, fake_out: Tensor, real_out: Tensor | None = None) -> Tensor:
        return -F.softplus(fake_out).mean()


class NonSaturatingLoss(GANLoss):
    """Non-saturating GAN, Goodfellow et al. 2014, section 3 ("maximise log D(G(z))").

    L_D = E[softplus(−d_real)] + E[softplus(d_fake)]
    L_G = −E[log σ(d_fake)] = E[softplus(−d_fake)]

    Same fixed points as minimax, but ∂L_G/∂d_fake = σ(d_fake) − 1 → −1 as σ(d_fake) → 0, so the
    generator still learns when the discriminator wins. Note that −BCE(ones, D(G(z))) is *not*
    this loss: it equals +log D(G(z)) and drives D(G(z)) to 0.
    """

    output_is_logit = True
    name = "nonsaturating"

    def discriminator_loss(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        return _sigmoid_discriminator_loss(real_out, fake_out)

    def generator_loss(self, fake_out: Tensor, real_out: Tensor | None = None) -> Tensor:
        return F.softplus(-fake_out).mean()
