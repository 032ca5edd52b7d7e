"""Least squares on sigmoid outputs (``loss.squash=sigmoid``), as Lucic et al. 2018 / compare_gan's
LSGAN: L_D = ½·mean((σ(d_r) − 1)²) + ½·mean(σ(d_f)²), L_G = ½·mean((σ(d_f) − 1)²)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganbench.errors import ConfigError
from ganbench.losses import LeastSquaresLoss

# TF-GAN's test logits (DESIGN.md §8)
REAL = [-5.0, 1.4, 12.5, 2.7]
FAKE = [10.0, 4.4, -5.5, 3.6]


def t(values):
    return torch.tensor(values, dtype=torch.float64)


def sig(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def test_formula_on_the_tfgan_logits():
    loss = LeastSquaresLoss(squash="sigmoid")
    expected_d = 0.5 * np.mean((sig(REAL) - 1) ** 2) + 0.5 * np.mean(sig(FAKE) ** 2)
    expected_g = 0.5 * np.mean((sig(FAKE) - 1) ** 2)
    assert loss.discriminator_loss(t(REAL), t(FAKE)).item() == pytest.approx(expected_d, rel=1e-12)
    assert loss.generator_loss(t(FAKE)).item() == pytest.approx(expected_g, rel=1e-12)
    # and not the raw-output loss (17.69625 for G on these logits)
    assert LeastSquaresLoss().generator_loss(t(FAKE)).item() == pytest.approx(17.69625)
    assert loss.generator_loss(t(FAKE)).item() < 0.5


def test_by_hand_at_zero_logits():
    # σ(0) = ½: D = ½(½ − 1)² + ½(½)² = ¼, G = ½(½ − 1)² = ⅛
    loss = LeastSquaresLoss(squash="sigmoid")
    assert loss.discriminator_loss(t([0.0]), t([0.0])).item() == pytest.approx(0.25)
    assert loss.generator_loss(t([0.0])).item() == pytest.approx(0.125)
    assert loss.output_is_logit and not LeastSquaresLoss().output_is_logit


def test_generator_gradient_saturates_like_minimax():
    """∂L_G/∂d = (σ(d) − 1)·σ(d)(1 − σ(d)): vanishes when D rejects fakes confidently."""
    loss = LeastSquaresLoss(squash="sigmoid")
    for d in (-8.0, 0.0, 2.0):
        x = t([d]).requires_grad_()
        loss.generator_loss(x).backward()
        s = sig(d)
        assert x.grad.item() == pytest.approx((s - 1) * s * (1 - s), rel=1e-10)
    x = t([-12.0]).requires_grad_()
    loss.generator_loss(x).backward()
    assert abs(x.grad.item()) < 1e-5


def test_optimal_discriminator_is_the_log_density_ratio():
    loss = LeastSquaresLoss(squash="sigmoid")
    p, q = t([3.0, 1.0, 1.0, 0.0]), t([1.0, 3.0, 1.0, 2.0])
    d = loss.optimal_output(p, q)
    assert d[:3].tolist() == pytest.approx([math.log(3), -math.log(3), 0.0])
    assert d[3].item() == -math.inf
    # it minimises the pointwise loss ½p(σ(d) − 1)² + ½q σ(d)² (checked on a grid)
    grid = torch.linspace(-6, 6, 12001, dtype=torch.float64)
    s = torch.sigmoid(grid)
    pointwise = 0.5 * 3.0 * (s - 1) ** 2 + 0.5 * 1.0 * s**2
    assert grid[pointwise.argmin()].item() == pytest.approx(math.log(3), abs=2e-3)


def test_unknown_squash_is_a_config_error():
    with pytest.raises(ConfigError, match="loss.squash='tanh'.*none, sigmoid"):
        LeastSquaresLoss(squash="tanh")
