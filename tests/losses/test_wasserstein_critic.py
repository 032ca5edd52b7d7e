"""(d) A Wasserstein critic with a gradient penalty, trained between P = N(0, 1) (data) and
Q = N(μ, 1) (model), estimates W₁(P, Q) = |μ| by E_P[d] − E_Q[d] = −L_D(without penalty).

The critic is a small MLP trained on fixed pools of 16,384 samples per distribution (minibatches
of 256, Adam, the last layer started at zero). The estimate is evaluated on 100,000 fresh samples of
each. It must be within 3% of the value the penalised optimum reaches, computed by quadrature
(:func:`ganbench.losses.theory.gradient_penalty_critic_value`): with a finite weight λ the penalty
lets the critic be steeper than 1, so the estimate is W₁ + (1/2λ)·∫(F_Q − F_P)²/ρ, about 10%
above W₁ = |μ| for μ = 2, λ = 10, and tends to W₁ as λ grows. It must also be within 12% of |μ|.

The zero start matters in 1-D: at a random start the penalty (|d′| − 1)² is a barrier at d′ = 0,
and a critic that starts with the wrong slope can stay on the wrong side (a local minimum at
d′ ≈ +0.9 for μ = 2), which an unregularised first step avoids. Wasserstein's ``optimal_output``
raising is tested in test_theory.py.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganbench.losses import WassersteinLoss
from ganbench.losses.theory import gradient_penalty_critic_value
from ganbench.regularizers import GradientPenalty, OneSidedGradientPenalty, Regularizer

POOL, BATCH, STEPS = 16_384, 256, 200


def critic_estimate(mu: float, regularizer: Regularizer) -> float:
    gen = torch.Generator().manual_seed(0)
    real_pool = torch.randn(POOL, 1, generator=gen)
    fake_pool = mu + torch.randn(POOL, 1, generator=gen)
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Linear(1, 32), nn.LeakyReLU(0.2), nn.Linear(32, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))
    nn.init.zeros_(critic[-1].weight)  # start from a constant critic (see the module docstring)
    opt = torch.optim.Adam(critic.parameters(), lr=5e-3, betas=(0.5, 0.9))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1.0 - 0.9 * i / STEPS)
    loss = WassersteinLoss()
    for _ in range(STEPS):
        real = real_pool[torch.randint(0, POOL, (BATCH,), generator=gen)]
        fake = fake_pool[torch.randint(0, POOL, (BATCH,), generator=gen)]
        opt.zero_grad()
        d_loss = loss.discriminator_loss(critic(real).squeeze(1), critic(fake).squeeze(1))
        (d_loss + regularizer.penalty(critic, real, fake)).backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        real, fake = torch.randn(100_000, 1, generator=gen), mu + torch.randn(100_000, 1, generator=gen)
        return -loss.discriminator_loss(critic(real).squeeze(1), critic(fake).squeeze(1)).item()


@pytest.mark.parametrize(
    "mu,regularizer",
    [(2.0, GradientPenalty(10.0)), (-1.0, GradientPenalty(10.0)), (2.0, OneSidedGradientPenalty(10.0))],
    ids=["gp-mu=2", "gp-mu=-1", "lp-mu=2"],
)
def test_wgan_critic_recovers_w1(mu, regularizer):
    w1, penalised = gradient_penalty_critic_value(mu, regularizer.weight)
    assert w1 == pytest.approx(abs(mu), rel=1e-6)
    estimate = critic_estimate(mu, regularizer)
    assert estimate == pytest.approx(penalised, rel=0.03), f"E_P[d] − E_Q[d] = {estimate:.4f}, optimum {penalised:.4f}"
    assert estimate == pytest.approx(w1, rel=0.12), f"E_P[d] − E_Q[d] = {estimate:.4f}, W₁ = {w1}"
