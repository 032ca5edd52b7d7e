"""f-GAN, Nowozin, Cseke & Tomioka 2016, "f-GAN: Training Generative Neural Samplers using
Variational Divergence Minimization".

For a convex f with f(1) = 0, the f-divergence D_f(P‖Q) = ∫ q·f(p/q) has the variational lower
bound (eq. 4 of the paper)

    D_f(P‖Q) ≥ sup_T  E_P[T(x)] − E_Q[f*(T(x))],

with f* the Fenchel conjugate of f; the bound is tight at T*(x) = f'(p(x)/q(x)). The
discriminator's raw output v is mapped into the domain of f* by the output activation g_f
(Table 2 of the paper), T = g_f(v). Here P is the data and Q the model, and

    L_D = −(E_P[g_f(v_real)] − E_Q[f*(g_f(v_fake))])

so the optimal discriminator, g_f(v*) = f'(p/q), reaches L_D = −D_f(P‖Q).

Generator loss (``generator``):

* ``"practical"`` (default): L_G = −E_Q[g_f(v_fake)], the alternative the paper recommends in
  §3.2 ("maximise E_Q[g_f(V(G(z)))]"); for the GAN divergence it is the non-saturating loss.
* ``"saddle"``: L_G = −E_Q[f*(g_f(v_fake))], the saddle-point objective of eq. 6 (the E_P term
  does not depend on the generator and is left out).

| divergence | f(u) | D_f(P‖Q) | g_f(v) | f*(t) | v* |
|---|---|---|---|---|---|
| ``kl`` | u log u | ∫p log(p/q) | v | exp(t − 1) | 1 + log(p/q) |
| ``reverse_kl`` | −log u | ∫q log(q/p) | −exp(−v) | −1 − log(−t) | log(p/q) |
| ``pearson`` | (u − 1)² | ∫(p − q)²/q | v | t²/4 + t | 2(p/q − 1) |
| ``hellinger`` | (√u − 1)² | ∫(√p − √q)² | 1 − exp(−v) | t/(1 − t) | ½ log(p/q) |
| ``js`` | −(u + 1) log((1 + u)/2) + u log u | 2·JSD(P, Q) | log 2 − log(1 + exp(−v)) | −log(2 − exp(t)) | log(p/q) |

For Jensen–Shannon, the f and f* of the paper's tables give ∫p log(2p/(p+q)) + ∫q log(2q/(p+q)),
which is 2·JSD with JSD = ½KL(P‖M) + ½KL(Q‖M); L_D at the optimum is −2·JSD = (log 4 − 2·JSD)
− log 4, the standard GAN discriminator loss shifted by the constant log 4.

f*(g_f(v)) is computed in closed form in v (e.g. exp(v) − 1 for the Hellinger conjugate) so no
intermediate leaves the domain of f*. The KL, reverse-KL and Hellinger losses are exponential in
v: in float32 they overflow once |v| exceeds about 88.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ganbench.losses.base import DivergenceIdentity, GANLoss, check_densities, log_ratio

LOG2 = math.log(2.0)
# L_D(v*) = −D_f(P‖Q), D_f by its own definition in ganbench.losses.theory: (name there, factor)
_THEORY_DIVERGENCE = {
    "kl": ("kl", 1.0),
    "reverse_kl": ("reverse_kl", 1.0),
    "pearson": ("pearson_chi2", 1.0),
    "hellinger": ("squared_hellinger", 1.0),
    "js": ("jensen_shannon", 2.0),
}


@dataclass(frozen=True)
class FDivergence:
    """One row of Table 2: the output activation g_f, f*∘g_f, and the optimal raw output v*."""

    activation: Callable[[Tensor], Tensor]
    conjugate_of_activation: Callable[[Tensor], Tensor]
    optimal_output: Callable[[Tensor, Tensor], Tensor]
    output_is_logit: bool = False


DIVERGENCES: dict[str, FDivergence] = {
    "kl": FDivergence(
        activation=lambda v: v,
        conjugate_of_activation=lambda v: torch.exp(v - 1.0),
        optimal_output=lambda p, q: 1.0 + log_ratio(p, q),
    ),
    "reverse_kl": FDivergence(
        activation=lambda v: -torch.exp(-v),
        conjugate_of_activation=lambda v: v - 1.0,  # −1 − log(exp(−v))
        optimal_output=log_ratio,
    ),
    "pearson": FDivergence(
        activation=lambda v: v,
        conjugate_of_activation=lambda v: 0.25 * v.square() + v,
        optimal_output=lambda p, q: 2.0 * (p / q - 1.0),
    ),
    "hellinger": FDivergence(
        activation=lambda v: -torch.expm1(-v),  # 1 − exp(−v)
        conjugate_of_activation=torch.expm1,  # t/(1 − t) with 1 − t = exp(−v)
        optimal_output=lambda p, q: 0.5 * log_ratio(p, q),
    ),
    "js": FDivergence(
        activation=lambda v: LOG2 - F.softplus(-v),
        conjugate_of_activation=lambda v: F.softplus(v) - LOG2,  # −log(2 − 2σ(v)) = −log(2σ(−v))
        optimal_output=log_ratio,
        output_is_logit=True,
    ),
}

GENERATOR_OBJECTIVES = ("practical", "saddle")


class FGANLoss(GANLoss):
    """f-GAN for one f-divergence (see the module docstring for the formulas and Table 2).

        L_D = −(E_P[g_f(v_real)] − E_Q[f*(g_f(v_fake))])
        L_G = −E_Q[g_f(v_fake)]            (generator="practical", default)
        L_G = −E_Q[f*(g_f(v_fake))]        (generator="saddle")

    At the optimal discriminator g_f(v*) = f'(p_data/p_model), L_D = −D_f(p_data ‖ p_model).
    """

    def __init__(self, divergence: str = "kl", generator: str = "practical") -> None:
        if divergence not in DIVERGENCES:
            raise ValueError(f"unknown f-GAN divergence {divergence!r}; choose one of {sorted(DIVERGENCES)}.")
        if generator not in GENERATOR_OBJECTIVES:
            raise ValueError(
                f"unknown f-GAN generator objective {generator!r}; choose 'practical' (−E_Q[g_f(v)], the "
                "paper's recommendation) or 'saddle' (−E_Q[f*(g_f(v))])."
            )
        self.divergence = divergence
        self.generator = generator
        self.name = f"fgan_{divergence}"
        self._f = DIVERGENCES[divergence]
        self.output_is_logit = self._f.output_is_logit

    def discriminator_loss(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        return -self._f.activation(real_out).mean() + self._f.conjugate_of_activation(fake_out).mean()

    def generator_loss(self, fake_out: Tensor, real_out: Tensor | None = None) -> Tensor:
        if self.generator == "saddle":
            return -self._f.conjugate_of_activation(fake_out).mean()
        return -self._f.activation(fake_out).mean()

    def optimal_output(self, p_data: Tensor, p_model: Tensor) -> Tensor:
        """The raw output v* with g_f(v*) = f'(p_data/p_model) (last column of the table above)."""
        p, q = check_densities(p_data, p_model)
        return self._f.optimal_output(p, q)

    def optimum_identity(self) -> DivergenceIdentity:
        """L_D(v*) = −D_f(P‖Q) (Nowozin et al. 2016, eq. 4 at the supremum); −2·JSD for ``js``."""
        name, factor = _THEORY_DIVERGENCE[self.divergence]
        return DivergenceIdentity(name, -factor)

    def __repr__(self) -> str:
        return f"FGANLoss(divergence={self.divergence!r}, generator={self.generator!r})"
