"""Relativistic GANs, Jolicoeur-Martineau 2018, "The relativistic discriminator: a key element
missing from standard GAN" (arXiv:1807.00734), §4.

The critic C(x) returns a raw score; the losses look only at differences of scores, so adding a
constant to C changes nothing. Each form has a function f₁ ("real looks more real than fake")
and f₂(y) = f₁(−y):

| form | f₁(y) | f₂(y) |
|---|---|---|
| ``sigmoid`` | softplus(−y) = −log σ(y) | softplus(y) |
| ``least_squares`` | (y − 1)² | (y + 1)² |
| ``hinge`` | relu(1 − y) | relu(1 + y) |

Relativistic standard (RSGAN, RLSGAN, RHingeGAN; paper eq. 7-8 with the f₁ term only), on
pairs (x_r, x_f) of one real and one fake sample:

    L_D = E[f₁(C(x_r) − C(x_f))]          L_G = E[f₁(C(x_f) − C(x_r))]

Relativistic average (RaSGAN, RaLSGAN, RaHingeGAN; paper §4.2), with batch means m_r = E[C(x_r)]
and m_f = E[C(x_f)]:

    L_D = E[f₁(C(x_r) − m_f)] + E[f₂(C(x_f) − m_r)]
    L_G = E[f₁(C(x_f) − m_r)] + E[f₂(C(x_r) − m_f)]

These are the paper's equations. The author's reference code divides the relativistic-average
losses by 2; that halves every gradient and moves no optimum.

Optimal critics (derived in docs/objectives.md, checked in tests/losses/test_theory.py). With
w = p/(p + q) and e = E_P[w] = ∫p²/(p + q):

* RSGAN: C* = log(p/q) + k for any constant k — pointwise up to the constant, so
  :meth:`RelativisticLoss.optimal_output` returns log(p/q).
* RLSGAN: C* = w/e + k, L_D* = 1/e − 1. RaLSGAN: C* = 2w/(3e − 1) + k,
  L_D* = 2(1 − e)/(3e − 1). Both depend on e, a property of the whole pair of distributions, so
  they are not functions of the two densities at one point.
* RaSGAN, RHingeGAN, RaHingeGAN: no closed form; the RaSGAN optimum is *not* log(p/q).

Pairs in the relativistic standard form are (real[i], fake[i]), as in the reference code, so
real and fake batches must have the same shape.
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor

from ganbench.losses.base import GANLoss, NoPointwiseOptimumError, check_densities, log_ratio

FORMS: dict[str, Callable[[Tensor], Tensor]] = {
    "sigmoid": lambda y: F.softplus(-y),
    "least_squares": lambda y: (y - 1.0).square(),
    "hinge": lambda y: F.relu(1.0 - y),
}
_NAMES = {
    "standard": {"sigmoid": "rsgan", "least_squares": "rlsgan", "hinge": "rhinge"},
    "average": {"sigmoid": "rasgan", "least_squares": "ralsgan", "hinge": "rahinge"},
}


def _check_form(form: str) -> Callable[[Tensor], Tensor]:
    if form not in FORMS:
        raise ValueError(f"unknown relativistic form {form!r}; choose one of {sorted(FORMS)}.")
    return FORMS[form]


class RelativisticLoss(GANLoss):
    """Relativistic standard GAN (RSGAN for ``form="sigmoid"``, RLSGAN, RHingeGAN),
    Jolicoeur-Martineau 2018, §4.1, on pairs (real[i], fake[i]):

        L_D = E[f₁(C(x_r) − C(x_f))]
        L_G = E[f₁(C(x_f) − C(x_r))]

    with f₁(y) = softplus(−y), (y − 1)² or relu(1 − y). The RSGAN optimum is C* = log(p/q) + k.
    """

    uses_real_for_generator = True
    shift_invariant = True

    def __init__(self, form: str = "sigmoid") -> None:
        self._f1 = _check_form(form)
        self.form = form
        self.name = _NAMES["standard"][form]
        self.output_is_logit = False

    def __repr__(self) -> str:
        return f"RelativisticLoss(form={self.form!r})"

    @staticmethod
    def _pairs(real_out: Tensor, fake_out: Tensor) -> None:
        if real_out.shape != fake_out.shape:
            raise ValueError(
                f"relativistic losses compare real[i] with fake[i], so both batches need the same shape; got "
                f"{tuple(real_out.shape)} and {tuple(fake_out.shape)}. Use equal real and fake batch sizes."
            )

    def discriminator_loss(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        self._pairs(real_out, fake_out)
        return self._f1(real_out - fake_out).mean()

    def generator_loss(self, fake_out: Tensor, real_out: Tensor | None = None) -> Tensor:
        if real_out is None:
            raise ValueError(f"{self.name} needs the discriminator's outputs on real data in generator_loss.")
        self._pairs(real_out, fake_out)
        return self._f1(fake_out - real_out).mean()

    @property
    def has_pointwise_optimum(self) -> bool:
        """Only RSGAN's optimum is pointwise (up to a constant)."""
        return self.form == "sigmoid"

    def optimal_output(self, p_data: Tensor, p_model: Tensor) -> Tensor:
        """RSGAN: C* = log(p_data/p_model), optimal up to an additive constant (any C* + k is as good).

        The least-squares and hinge forms raise :class:`NoPointwiseOptimumError`."""
        if self.form == "sigmoid":
            p, q = check_densities(p_data, p_model)
            return log_ratio(p, q)
        if self.form == "least_squares":
            raise NoPointwiseOptimumError(
                "rlsgan has no pointwise optimal critic: its optimum is C*(x) = w(x)/E_P[w] + k with "
                "w = p_data/(p_data + p_model), which depends on E_P[w], a property of the whole pair of "
                "distributions (derivation in docs/objectives.md)."
            )
        raise NoPointwiseOptimumError(
            "rhinge has no pointwise optimal critic: the pairwise hinge loss couples every real score with every "
            "fake score, and its optimum has no closed form in the densities."
        )


class RelativisticAverageLoss(GANLoss):
    """Relativistic average GAN (RaSGAN for ``form="sigmoid"``, RaLSGAN, RaHingeGAN),
    Jolicoeur-Martineau 2018, §4.2, with batch means m_r, m_f of the critic's scores:

        L_D = E[f₁(C(x_r) − m_f)] + E[f₂(C(x_f) − m_r)]
        L_G = E[f₁(C(x_f) − m_r)] + E[f₂(C(x_r) − m_f)]

    with f₂(y) = f₁(−y). No form has a pointwise optimal critic (see the module docstring).
    """

    uses_real_for_generator = True
    shift_invariant = True
    has_pointwise_optimum = False

    def __init__(self, form: str = "sigmoid") -> None:
        self._f1 = _check_form(form)
        self.form = form
        self.name = _NAMES["average"][form]
        self.output_is_logit = False

    def _f2(self, y: Tensor) -> Tensor:
        return self._f1(-y)

    def discriminator_loss(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        return self._f1(real_out - fake_out.mean()).mean() + self._f2(fake_out - real_out.mean()).mean()

    def generator_loss(self, fake_out: Tensor, real_out: Tensor | None = None) -> Tensor:
        if real_out is None:
            raise ValueError(f"{self.name} needs the discriminator's outputs on real data in generator_loss.")
        return self._f1(fake_out - real_out.mean()).mean() + self._f2(real_out - fake_out.mean()).mean()

    def optimal_output(self, p_data: Tensor, p_model: Tensor) -> Tensor:
        detail = {
            "sigmoid": "its optimum solves a fixed-point equation that involves E_P[C] and E_Q[C], and "
            "log(p_data/p_model) is not optimal",
            "least_squares": "its optimum is C*(x) = 2w(x)/(3·E_P[w] − 1) + k with w = p_data/(p_data + p_model), "
            "which depends on E_P[w], a property of the whole pair of distributions",
            "hinge": "its optimum has no closed form in the densities",
        }[self.form]
        raise NoPointwiseOptimumError(
            f"{self.name} has no pointwise optimal critic: the loss compares each score with the batch mean of "
            f"the other side, so {detail} (see docs/objectives.md)."
        )

    def __repr__(self) -> str:
        return f"RelativisticAverageLoss(form={self.form!r})"
