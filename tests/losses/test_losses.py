"""Every loss against its formula, computed independently in float64 from probabilities."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganbench.losses import (
    GANLoss,
    HingeLoss,
    LeastSquaresLoss,
    MinimaxLoss,
    NonSaturatingLoss,
    WassersteinLoss,
)

REAL = [2.0, -0.5, 0.0, 3.5, -1.25]
FAKE = [-1.0, 0.3, -2.5, 1.5, 0.0]


def t(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def sig(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def ref_sigmoid_d(real, fake):
    """BCE with label 1 for real, 0 for fake, on probabilities D = σ(d): −log D(x) − log(1 − D(G(z)))."""
    return np.mean(-np.log(sig(real))) + np.mean(-np.log(1.0 - sig(fake)))


def test_minimax_matches_goodfellow_value_function():
    loss = MinimaxLoss()
    assert loss.discriminator_loss(t(REAL), t(FAKE)).item() == pytest.approx(ref_sigmoid_d(REAL, FAKE), rel=1e-12)
    # saturating generator: minimise E[log(1 − D(G(z)))]
    expected_g = np.mean(np.log(1.0 - sig(FAKE)))
    assert loss.generator_loss(t(FAKE)).item() == pytest.approx(expected_g, rel=1e-12)
    assert expected_g < 0


def test_nonsaturating_matches_minus_log_d():
    loss = NonSaturatingLoss()
    assert loss.discriminator_loss(t(REAL), t(FAKE)).item() == pytest.approx(ref_sigmoid_d(REAL, FAKE), rel=1e-12)
    expected_g = np.mean(-np.log(sig(FAKE)))
    assert loss.generator_loss(t(FAKE)).item() == pytest.approx(expected_g, rel=1e-12)
    assert expected_g > 0


def test_nonsaturating_is_not_minus_bce_against_ones():
    # A known mistake: −BCE(ones, D(G(z))) = +log D(G(z)); the true loss is its negative.
    wrong = np.mean(np.log(sig(FAKE)))
    assert NonSaturatingLoss().generator_loss(t(FAKE)).item() == pytest.approx(-wrong, rel=1e-12)


@pytest.mark.parametrize("a,b,c", [(0.0, 1.0, 1.0), (-1.0, 1.0, 0.0), (0.5, 2.0, 1.5)])
def test_least_squares_half_factors_and_labels(a, b, c):
    loss = LeastSquaresLoss(a=a, b=b, c=c)
    r, f = np.array(REAL), np.array(FAKE)
    expected_d = 0.5 * np.mean((r - b) ** 2) + 0.5 * np.mean((f - a) ** 2)
    expected_g = 0.5 * np.mean((f - c) ** 2)
    assert loss.discriminator_loss(t(REAL), t(FAKE)).item() == pytest.approx(expected_d, rel=1e-12)
    assert loss.generator_loss(t(FAKE)).item() == pytest.approx(expected_g, rel=1e-12)


def test_least_squares_defaults_are_0_1_1():
    loss = LeastSquaresLoss()
    assert (loss.a, loss.b, loss.c) == (0.0, 1.0, 1.0)
    # by hand: real 1 → 0, fake 0 → 0; ½(2−1)² + ½(1−0)² = 1
    assert loss.discriminator_loss(t([1.0, 2.0]), t([0.0, 1.0])).item() == pytest.approx(0.25 + 0.25)


def test_least_squares_rejects_equal_labels():
    with pytest.raises(ValueError, match="different real and fake labels"):
        LeastSquaresLoss(a=1.0, b=1.0)


def test_wasserstein():
    loss = WassersteinLoss()
    assert loss.discriminator_loss(t(REAL), t(FAKE)).item() == pytest.approx(np.mean(FAKE) - np.mean(REAL))
    assert loss.generator_loss(t(FAKE)).item() == pytest.approx(-np.mean(FAKE))


def test_hinge():
    loss = HingeLoss()
    r, f = np.array(REAL), np.array(FAKE)
    expected_d = np.mean(np.maximum(0, 1 - r)) + np.mean(np.maximum(0, 1 + f))
    assert loss.discriminator_loss(t(REAL), t(FAKE)).item() == pytest.approx(expected_d, rel=1e-12)
    assert loss.generator_loss(t(FAKE)).item() == pytest.approx(-np.mean(f))
    # by hand: real 2 (no loss), real 0 (1); fake −2 (no loss), fake 0 (1)
    assert loss.discriminator_loss(t([2.0, 0.0]), t([-2.0, 0.0])).item() == pytest.approx(0.5 + 0.5)


# the classic objectives at |d| = 100 (test_contract.py checks every conf/loss option up to |d| = 28; the
# exponential f-GAN losses overflow float32 beyond about 88)
ALL = [MinimaxLoss(), NonSaturatingLoss(), LeastSquaresLoss(), WassersteinLoss(), HingeLoss()]


@pytest.mark.parametrize("loss", ALL, ids=lambda l: l.name)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_extreme_logits_give_finite_values_and_gradients(loss: GANLoss, dtype):
    real = torch.tensor([100.0, -100.0, 0.0], dtype=dtype, requires_grad=True)
    fake = torch.tensor([-100.0, 100.0, 0.0], dtype=dtype, requires_grad=True)
    d = loss.discriminator_loss(real, fake)
    g = loss.generator_loss(fake, real)
    assert torch.isfinite(d) and torch.isfinite(g)
    gr_r, gr_f = torch.autograd.grad(d, (real, fake))
    (gg,) = torch.autograd.grad(g, fake)
    assert torch.isfinite(gr_r).all() and torch.isfinite(gr_f).all() and torch.isfinite(gg).all()


def test_extreme_logit_values_are_exact():
    # softplus(100) = 100 to float precision; log(1 − σ(100)) would be log(0) = −inf if done naively
    d = MinimaxLoss().discriminator_loss(torch.tensor([-100.0]), torch.tensor([100.0]))
    assert d.item() == pytest.approx(200.0)
    assert NonSaturatingLoss().generator_loss(torch.tensor([-100.0])).item() == pytest.approx(100.0)
    assert MinimaxLoss().generator_loss(torch.tensor([100.0])).item() == pytest.approx(-100.0)


def test_saturation_gradients_at_confident_discriminator():
    # D rejects fakes confidently: σ(d_fake) = σ(−20) ≈ 2e−9.
    d_fake = torch.tensor([-20.0], dtype=torch.float64, requires_grad=True)
    (g_mm,) = torch.autograd.grad(MinimaxLoss().generator_loss(d_fake), d_fake)
    (g_ns,) = torch.autograd.grad(NonSaturatingLoss().generator_loss(d_fake), d_fake)
    assert g_mm.item() == pytest.approx(-sig(-20.0), rel=1e-9)  # −σ(d): vanishes
    assert g_ns.item() == pytest.approx(sig(-20.0) - 1.0, rel=1e-9)  # σ(d) − 1: about −1
    assert abs(g_mm.item()) < 1e-8 < 0.99 < abs(g_ns.item())
