"""Least-squares GAN."""

from __future__ import annotations

from torch import Tensor

from ganbench.losses.base import GANLoss, check_densities


class LeastSquaresLoss(GANLoss):
    """Least-squares GAN, Mao et al. 2017, "Least Squares Generative Adversarial Networks", eq. 2.

    With labels a (fake), b (real) for the discriminator and c (the value the generator wants the
    discriminator to believe for fakes):

        L_D = ½·E[(d_real − b)²] + ½·E[(d_fake − a)²]
        L_G = ½·E[(d_fake − c)²]

    Defaults a = 0, b = 1, c = 1 (the "0-1 binary coding" of the paper). The optimal
    discriminator is d* = (b·p_data + a·p_model)/(p_data + p_model), where
    L_D = ½(b − a)²·∫ p_data·p_model/(p_data + p_model). With a = −1, b = 1, c = 0 the generator
    minimises the Pearson χ² divergence between p_data + p_model and 2·p_model.
    """

    name = "least_squares"

    def __init__(self, a: float = 0.0, b: float = 1.0, c: float = 1.0) -> None:
        if a == b:
            raise ValueError(
                f"least_squares needs different real and fake labels, got a = b = {a}; "
                "set loss.a (fake) and loss.b (real) to different values, e.g. a=0 b=1."
            )
        self.a = float(a)
        self.b = float(b)
        self.c = float(c)

    def discriminator_loss(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        return 0.5 * (real_out - self.b).square().mean() + 0.5 * (fake_out - self.a).square().mean()

    def generator_loss(self, fake_out: Tensor, real_out: Tensor | None = None) -> Tensor:
        return 0.5 * (fake_out - self.c).square().mean()

    def optimal_output(self, p_data: Tensor, p_model: Tensor) -> Tensor:
        """d* = (b·p_data + a·p_model)/(p_data + p_model), the minimiser of ½p(d − b)² + ½q(d − a)²."""
        p, q = check_densities(p_data, p_model)
        return (self.b * p + self.a * q) / (p + q)
