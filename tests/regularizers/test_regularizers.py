"""Penalties checked on discriminators whose input gradient is known in closed form."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganbench.regularizers import GradientPenalty, NoRegularizer, R1Penalty, WeightClipping


class Linear(nn.Module):
    """D(x) = w·x + b: ∇ₓD = w everywhere."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w, dtype=torch.float64))
        self.b = nn.Parameter(torch.tensor(0.3, dtype=torch.float64))

    def forward(self, x):
        return x.flatten(1) @ self.w + self.b


class HalfSquaredNorm(nn.Module):
    """D(x) = ½‖x‖²: ∇ₓD = x, so the gradient norm at x̂ is ‖x̂‖."""

    def forward(self, x):
        return 0.5 * x.flatten(1).square().sum(1)


def test_gp_on_linear_critic():
    d = Linear([3.0, 4.0])  # ‖w‖ = 5
    real = torch.randn(16, 2, dtype=torch.float64)
    fake = torch.randn(16, 2, dtype=torch.float64)
    assert GradientPenalty(weight=10.0).penalty(d, real, fake).item() == pytest.approx(10.0 * (5 - 1) ** 2)


def test_gp_interpolates_per_sample():
    real = torch.ones(64, 2, dtype=torch.float64)
    fake = torch.zeros(64, 2, dtype=torch.float64)
    torch.manual_seed(7)
    eps = torch.rand(64, 1, dtype=torch.float64)
    torch.manual_seed(7)
    got = GradientPenalty(weight=1.0).penalty(HalfSquaredNorm(), real, fake).item()
    # x̂ᵢ = εᵢ·(1, 1): ‖∇D(x̂ᵢ)‖ = εᵢ·√2, one ε per sample
    expected = ((eps.squeeze(1) * 2**0.5 - 1) ** 2).mean().item()
    assert got == pytest.approx(expected, rel=1e-10)
    # a single ε shared by the batch would give a different value
    shared = ((eps[0] * 2**0.5 - 1) ** 2).item()
    assert abs(got - shared) > 1e-3


def test_gp_broadcasts_over_image_dimensions():
    real = torch.ones(8, 3, 4, 4, dtype=torch.float64)
    fake = torch.zeros(8, 3, 4, 4, dtype=torch.float64)
    torch.manual_seed(3)
    eps = torch.rand(8, dtype=torch.float64)
    torch.manual_seed(3)
    got = GradientPenalty(weight=2.0).penalty(HalfSquaredNorm(), real, fake).item()
    expected = 2.0 * ((eps * 48**0.5 - 1) ** 2).mean().item()
    assert got == pytest.approx(expected, rel=1e-10)


def test_gp_gradient_flows_to_critic_weights():
    d = Linear([3.0, 4.0])
    pen = GradientPenalty(weight=1.0).penalty(
        d, torch.randn(4, 2, dtype=torch.float64), torch.randn(4, 2, dtype=torch.float64)
    )
    pen.backward()
    # ∂/∂w (‖w‖ − 1)² = 2(‖w‖ − 1)·w/‖w‖ = 2·4·(0.6, 0.8)
    assert d.w.grad.tolist() == pytest.approx([4.8, 6.4])


def test_r1_on_linear_and_quadratic():
    real = torch.randn(32, 2, dtype=torch.float64)
    fake = torch.randn(32, 2, dtype=torch.float64)
    assert R1Penalty(gamma=4.0).penalty(Linear([3.0, 4.0]), real, fake).item() == pytest.approx(0.5 * 4.0 * 25.0)
    # ∇D = x on real data only
    expected = 0.5 * 2.0 * real.square().sum(1).mean().item()
    assert R1Penalty(gamma=2.0).penalty(HalfSquaredNorm(), real, fake).item() == pytest.approx(expected)


def test_weight_clipping_clamps_every_parameter():
    d = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
    with torch.no_grad():
        for p in d.parameters():
            p.uniform_(-1, 1)
    WeightClipping(0.05).after_discriminator_step(d)
    flat = torch.cat([p.flatten() for p in d.parameters()])
    assert flat.abs().max().item() == pytest.approx(0.05)
    assert WeightClipping(0.05).penalty(d, torch.zeros(2, 2), torch.zeros(2, 2)).item() == 0.0


def test_none_adds_nothing():
    assert NoRegularizer().penalty(Linear([1.0, 1.0]), torch.zeros(3, 2), torch.zeros(3, 2)).item() == 0.0


@pytest.mark.parametrize("bad", [lambda: GradientPenalty(-1), lambda: R1Penalty(-1), lambda: WeightClipping(0)])
def test_invalid_weights_are_refused(bad):
    with pytest.raises(ValueError):
        bad()
