"""f-GAN, relativistic and label-smoothed losses against their papers' formulas, written out
independently in numpy float64 (probabilities, explicit pairs and batch means)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganbench.losses import FGANLoss, MinimaxLoss, NonSaturatingLoss, RelativisticAverageLoss, RelativisticLoss

REAL = np.array([2.0, -0.5, 0.0, 1.5, -1.25])
FAKE = np.array([-1.0, 0.3, -2.5, 0.9, 0.0])


def t(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def sig(x):
    return 1.0 / (1.0 + np.exp(-x))


# Table 2 of Nowozin et al. 2016: output activation g_f(v) and conjugate f*(t), written as in the paper.
TABLE2 = {
    "kl": (lambda v: v, lambda s: np.exp(s - 1.0)),
    "reverse_kl": (lambda v: -np.exp(-v), lambda s: -1.0 - np.log(-s)),
    "pearson": (lambda v: v, lambda s: 0.25 * s**2 + s),
    "hellinger": (lambda v: 1.0 - np.exp(-v), lambda s: s / (1.0 - s)),
    "js": (lambda v: np.log(2.0) - np.log(1.0 + np.exp(-v)), lambda s: -np.log(2.0 - np.exp(s))),
}


@pytest.mark.parametrize("divergence", list(TABLE2))
def test_fgan_losses_follow_table_2(divergence):
    g, conj = TABLE2[divergence]
    expected_d = -np.mean(g(REAL)) + np.mean(conj(g(FAKE)))
    loss = FGANLoss(divergence)
    assert loss.discriminator_loss(t(REAL), t(FAKE)).item() == pytest.approx(expected_d, rel=1e-12)
    assert loss.generator_loss(t(FAKE)).item() == pytest.approx(-np.mean(g(FAKE)), rel=1e-12)
    saddle = FGANLoss(divergence, generator="saddle")
    assert saddle.generator_loss(t(FAKE)).item() == pytest.approx(-np.mean(conj(g(FAKE))), rel=1e-12)


def test_fgan_rejects_unknown_options():
    with pytest.raises(ValueError, match="unknown f-GAN divergence 'tv'"):
        FGANLoss("tv")
    with pytest.raises(ValueError, match="'practical'"):
        FGANLoss("kl", generator="minimax")


FORMS = {
    "sigmoid": lambda y: -np.log(sig(y)),
    "least_squares": lambda y: (y - 1.0) ** 2,
    "hinge": lambda y: np.maximum(0.0, 1.0 - y),
}


@pytest.mark.parametrize("form", list(FORMS))
def test_relativistic_standard_compares_pairs(form):
    f1 = FORMS[form]
    loss = RelativisticLoss(form)
    d = np.mean([f1(r - f) for r, f in zip(REAL, FAKE)])
    g = np.mean([f1(f - r) for r, f in zip(REAL, FAKE)])
    assert loss.discriminator_loss(t(REAL), t(FAKE)).item() == pytest.approx(d, rel=1e-12)
    assert loss.generator_loss(t(FAKE), t(REAL)).item() == pytest.approx(g, rel=1e-12)


@pytest.mark.parametrize("form", list(FORMS))
def test_relativistic_average_compares_with_the_other_sides_mean(form):
    f1 = FORMS[form]
    f2 = lambda y: f1(-y)  # noqa: E731
    loss = RelativisticAverageLoss(form)
    m_r, m_f = REAL.mean(), FAKE.mean()
    d = np.mean(f1(REAL - m_f)) + np.mean(f2(FAKE - m_r))
    g = np.mean(f1(FAKE - m_r)) + np.mean(f2(REAL - m_f))
    assert loss.discriminator_loss(t(REAL), t(FAKE)).item() == pytest.approx(d, rel=1e-12)
    assert loss.generator_loss(t(FAKE), t(REAL)).item() == pytest.approx(g, rel=1e-12)


def test_relativistic_losses_need_real_outputs_and_equal_batches():
    with pytest.raises(ValueError, match="outputs on real data"):
        RelativisticAverageLoss().generator_loss(t(FAKE))
    with pytest.raises(ValueError, match="same shape"):
        RelativisticLoss().discriminator_loss(t(REAL), t(FAKE[:3]))
    with pytest.raises(ValueError, match="unknown relativistic form"):
        RelativisticLoss("wasserstein")
    assert RelativisticLoss().uses_real_for_generator and RelativisticAverageLoss().uses_real_for_generator


@pytest.mark.parametrize("cls", [MinimaxLoss, NonSaturatingLoss])
def test_one_sided_label_smoothing_is_bce_with_soft_real_labels(cls):
    alpha = 0.9
    # BCE with target α for real, 0 for fake, on probabilities
    expected = np.mean(-(alpha * np.log(sig(REAL)) + (1 - alpha) * np.log(1 - sig(REAL)))) + np.mean(
        -np.log(1 - sig(FAKE))
    )
    loss = cls(real_label=alpha)
    assert loss.discriminator_loss(t(REAL), t(FAKE)).item() == pytest.approx(expected, rel=1e-12)
    # the generator loss is unchanged by smoothing
    assert loss.generator_loss(t(FAKE)).item() == pytest.approx(cls().generator_loss(t(FAKE)).item(), rel=1e-15)
    with pytest.raises(ValueError, match="real_label must be in"):
        cls(real_label=1.2)
