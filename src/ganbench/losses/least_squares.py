"""Least-squares GAN."""

from __future__ import annotations

import torch
from torch import Tensor

from ganbench.errors import ConfigError
from ganbench.losses.base import DivergenceIdentity, GANLoss, check_densities

SQUASHES = ("none", "sigmoid")


class LeastSquaresLoss(GANLoss):
    """Least-squares GAN, Mao et al. 2017, "Least Squares Generative Adversarial Networks", eq. 2.

    With labels a (fake), b (real) for the discriminator and c (the value the generator wants the
    discriminator to believe for fakes), on s(d) for the raw discriminator output d:

        L_D = ½·E[(s(d_real) − b)²] + ½·E[(s(d_fake) − a)²]
        L_G = ½·E[(s(d_fake) − c)²]

    ``squash="none"`` (default): s(d) = d, Mao et al.'s linear output. ``squash="sigmoid"``:
    s(d) = σ(d), the least-squares loss on the sigmoid *probability*, as Lucic et al. 2018 used it
    (compare_gan's ``LSGAN.py`` squares ``D_real = sigmoid(logits)``); the outputs are then logits,
    logged as probabilities. Its gradient vanishes as σ saturates, like the minimax loss:
    ∂L_G/∂d = (σ(d) − c)·σ(d)(1 − σ(d)).

    Defaults a = 0, b = 1, c = 1 (the "0-1 binary coding" of the paper). The optimal
    discriminator has s(d*) = (b·p_data + a·p_model)/(p_data + p_model), where
    L_D = ½(b − a)²·∫ p_data·p_model/(p_data + p_model); with the sigmoid and a = 0, b = 1 that is
    d* = log(p_data/p_model). With a = −1, b = 1, c = 0 (and no squash) the generator minimises the
    Pearson χ² divergence between p_data + p_model and 2·p_model.
    """

    name = "least_squares"

    def __init__(self, a: float = 0.0, b: float = 1.0, c: float = 1.0, squash: str = "none") -> None:
        if a == b:
            raise ValueError(
                f"least_squares needs different real and fake labels, got a = b = {a}; "
                "set loss.a (fake) and loss.b (real) to different values, e.g. a=0 b=1."
            )
        if squash not in SQUASHES:
            raise ConfigError(f"loss.squash={squash!r} is not an option: choose one of {', '.join(SQUASHES)}")
        self.a = float(a)
        self.b = float(b)
        self.c = float(c)
        self.squash = squash
        self.output_is_logit = squash == "sigmoid"

    def _s(self, out: Tensor) -> Tensor:
        return torch.sigmoid(out) if self.squash == "sigmoid" else out

    def discriminator_loss(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        return 0.5 * (self._s(real_out) - self.b).square().mean() + 0.5 * (self._s(fake_out) - self.a).square().mean()

    def generator_loss(self, fake_out: Tensor, real_out: Tensor | None = None) -> Tensor:
        return 0.5 * (self._s(fake_out) - self.c).square().mean()

    def optimal_output(self, p_data: Tensor, p_model: Tensor) -> Tensor:
        """The d minimising ½p(s(d) − b)² + ½q(s(d) − a)²: s(d*) = t = (b·p_data + a·p_model)/(p_data + p_model).

        With the sigmoid, d* = logit(t), clamped to ±inf where t lies outside (0, 1) (the quadratic in
        σ(d) ∈ (0, 1) is then smallest at the boundary)."""
        p, q = check_densities(p_data, p_model)
        target = (self.b * p + self.a * q) / (p + q)
        return torch.logit(target.clamp(0.0, 1.0)) if self.squash == "sigmoid" else target

    def optimum_identity(self) -> DivergenceIdentity | None:
        """L_D(d*) = ½(b − a)²·∫pq/(p + q) (Mao et al. 2017, §3.2.1). On sigmoid outputs it holds
        while both labels lie in [0, 1] (the target (b·p + a·q)/(p + q) is then reachable)."""
        if self.squash == "sigmoid" and not (0.0 <= self.a <= 1.0 and 0.0 <= self.b <= 1.0):
            return None
        return DivergenceIdentity("harmonic_overlap", 0.5 * (self.b - self.a) ** 2)
