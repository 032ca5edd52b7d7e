"""DRAGAN, R2 and the one-sided (WGAN-LP) penalty on discriminators whose input gradient is known
in closed form."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganbench.regularizers import DRAGANPenalty, GradientPenalty, OneSidedGradientPenalty, R2Penalty


class Linear(nn.Module):
    """D(x) = w·x: ∇ₓD = w everywhere."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w, dtype=torch.float64))

    def forward(self, x):
        return x.flatten(1) @ self.w


class HalfSquaredNorm(nn.Module):
    """D(x) = ½‖x‖²: ∇ₓD = x."""

    def forward(self, x):
        return 0.5 * x.flatten(1).square().sum(1)


def batch(n: int = 32, shift: float = 0.0) -> torch.Tensor:
    return shift + torch.randn(n, 2, dtype=torch.float64)


def test_r2_penalises_gradients_on_fake_data_only():
    real, fake = batch(shift=5.0), batch()
    assert R2Penalty(gamma=4.0).penalty(Linear([3.0, 4.0]), real, fake).item() == pytest.approx(0.5 * 4.0 * 25.0)
    expected = 0.5 * 2.0 * fake.square().sum(1).mean().item()  # ∇D = x at the fakes, not at the reals
    assert R2Penalty(gamma=2.0).penalty(HalfSquaredNorm(), real, fake).item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("w,expected", [([3.0, 4.0], 10.0 * 16.0), ([0.3, 0.4], 0.0), ([0.6, 0.8], 0.0)])
def test_one_sided_penalty_only_punishes_slopes_above_one(w, expected):
    # ‖w‖ = 5, 0.5, 1: only the first exceeds 1; WGAN-GP would also punish ‖w‖ = 0.5
    got = OneSidedGradientPenalty(weight=10.0).penalty(Linear(w), batch(), batch()).item()
    assert got == pytest.approx(expected, abs=1e-12)
    if w == [0.3, 0.4]:
        assert GradientPenalty(weight=10.0).penalty(Linear(w), batch(), batch()).item() == pytest.approx(2.5)


def test_one_sided_penalty_interpolates_per_sample():
    real, fake = torch.full((64, 2), 2.0, dtype=torch.float64), torch.zeros(64, 2, dtype=torch.float64)
    torch.manual_seed(5)
    eps = torch.rand(64, dtype=torch.float64)
    torch.manual_seed(5)
    got = OneSidedGradientPenalty(weight=1.0).penalty(HalfSquaredNorm(), real, fake).item()
    # x̂ᵢ = εᵢ·(2, 2): ‖∇D(x̂ᵢ)‖ = 2√2·εᵢ
    assert got == pytest.approx(torch.relu(2 * 2**0.5 * eps - 1).square().mean().item(), rel=1e-10)


def test_dragan_perturbs_real_data_as_the_reference_code():
    real = batch(64, shift=1.0)
    torch.manual_seed(11)
    noise = torch.rand_like(real)
    alpha = torch.rand(64, 1, dtype=torch.float64)
    torch.manual_seed(11)
    got = DRAGANPenalty(perturbation=0.5).perturb(real)
    expected = real + alpha * 0.5 * real.std() * noise  # x + α·c·std(x)·U[0, 1)
    assert torch.allclose(got, expected, rtol=0, atol=1e-14)


def test_dragan_penalty_value():
    real, fake = batch(), batch(shift=100.0)
    # linear critic: ‖∇D‖ = 5 wherever it is taken, target k
    assert DRAGANPenalty(weight=10.0, target_norm=1.0).penalty(Linear([3.0, 4.0]), real, fake).item() == (
        pytest.approx(10.0 * 16.0)
    )
    assert DRAGANPenalty(weight=2.0, target_norm=5.0).penalty(Linear([3.0, 4.0]), real, fake).item() == pytest.approx(
        0.0, abs=1e-12
    )
    # quadratic critic: ‖∇D(x̂)‖ = ‖x̂‖ at the perturbed reals (fakes far away are ignored)
    torch.manual_seed(2)
    points = DRAGANPenalty().perturb(real)
    torch.manual_seed(2)
    got = DRAGANPenalty(weight=3.0).penalty(HalfSquaredNorm(), real, fake).item()
    assert got == pytest.approx(3.0 * (points.norm(dim=1) - 1.0).square().mean().item(), rel=1e-12)


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: R2Penalty(-1.0), "gamma"),
        (lambda: OneSidedGradientPenalty(-0.1), "weight"),
        (lambda: DRAGANPenalty(perturbation=-1.0), "perturbation"),
    ],
)
def test_invalid_settings_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_dragan_needs_two_real_samples():
    with pytest.raises(ValueError, match="at least 2 real samples"):
        DRAGANPenalty().penalty(Linear([1.0, 0.0]), batch(1), batch(1))


def test_r1_and_r2_are_one_penalty_on_either_side():
    from ganbench.regularizers import SquaredGradientPenalty

    real, fake = torch.zeros(4, 2), torch.ones(4, 2)

    class Quadratic(torch.nn.Module):  # D(x) = ½‖x − 1‖², ∇D = x − 1: zero on fake, norm² 2 on real
        def forward(self, x):
            return 0.5 * (x - 1).square().sum(dim=1, keepdim=True)

    d = Quadratic()
    assert SquaredGradientPenalty(gamma=2.0, on="real").penalty(d, real, fake).item() == pytest.approx(2.0)
    assert SquaredGradientPenalty(gamma=2.0, on="fake").penalty(d, real, fake).item() == pytest.approx(0.0)
    with pytest.raises(ValueError, match="real .R1. or fake .R2."):
        SquaredGradientPenalty(on="both")
