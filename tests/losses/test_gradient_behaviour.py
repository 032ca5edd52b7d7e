"""(e) Generator gradients when the discriminator wins: ∂L_G/∂d_fake as σ(d_fake) → 0, against the
closed forms, and the table :func:`gradient_table` renders (test_docs_tables.py checks the page)."""

from __future__ import annotations

import math
import re

import pytest

from ganbench.losses import FGANLoss, LeastSquaresLoss, MinimaxLoss, NonSaturatingLoss, RelativisticAverageLoss
from ganbench.losses.catalog import config_losses
from ganbench.losses.gradients import D_FAKE_VALUES, behaviour, generator_gradient, gradient_table


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@pytest.mark.parametrize("d", [0.0, -5.0, -20.0, -40.0])
def test_minimax_saturates_and_nonsaturating_does_not(d):
    # ∂/∂d log(1 − σ(d)) = −σ(d) → 0;  ∂/∂d −log σ(d) = σ(d) − 1 → −1
    assert generator_gradient(MinimaxLoss(), d) == pytest.approx(-sigmoid(d), rel=1e-9)
    assert generator_gradient(NonSaturatingLoss(), d) == pytest.approx(sigmoid(d) - 1.0, rel=1e-9)
    if d <= -20:
        assert abs(generator_gradient(MinimaxLoss(), d)) < 1e-8
        assert abs(generator_gradient(NonSaturatingLoss(), d)) > 0.999


def test_other_closed_forms():
    # least squares: ∂/∂d ½(d − c)² = d − c;  f-GAN KL practical: −1;  reverse KL practical: −exp(−v)
    assert generator_gradient(LeastSquaresLoss(a=-1, b=1, c=0), -3.0) == pytest.approx(-3.0)
    assert generator_gradient(FGANLoss("kl"), -7.0) == pytest.approx(-1.0)
    assert generator_gradient(FGANLoss("reverse_kl"), -2.0) == pytest.approx(-math.exp(2.0))
    # RaSGAN with d_real = 0: ∂/∂d_fake of softplus(−(d − 0)) plus the mean term of softplus(0 − d) → −2
    assert generator_gradient(RelativisticAverageLoss("sigmoid"), -30.0) == pytest.approx(-2.0, rel=1e-9)


def test_behaviour_labels():
    assert behaviour([-1e-3, -1e-9]) == "vanishes (saturates)"
    assert behaviour([-1.0, -1.0]) == "tends to -1"
    assert behaviour([-11.0, -21.0]) == "grows in magnitude"
    assert behaviour([4.0, 9.0]) == "grows in magnitude (wrong sign)"


def test_table_covers_every_configured_loss():
    table = gradient_table(config_losses(saddle_variants=True))
    names = re.findall(r"^\| `([^`]+)` \|", table, flags=re.M)
    assert set(config_losses()) <= set(names)
    assert names[0] == "loss=" and len(table.splitlines()) == 1 + len(names)
    assert all(len(line.split("|")) == len(D_FAKE_VALUES) + 4 for line in table.splitlines())
