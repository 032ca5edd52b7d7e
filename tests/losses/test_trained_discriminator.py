"""(c) A small MLP discriminator trained with each loss on fixed samples of P and Q approaches the
loss's ``optimal_output`` where both densities are non-negligible (p, q > 0.1).

P = N(0, 1) is the data and Q = N(1, 1.25²) the model, so log(p/q) is quadratic in x and no
objective's optimum is a straight line. 16,384 fixed samples of each; 200 Adam steps on random
minibatches of 256 from those pools, with the learning rate decayed linearly to 5%. The
discriminator's output is compared with ``optimal_output`` on a grid: the largest error must be
below 15% of the range of the optimum over the region (a wrong sign or factor of 2 in a loss or in
its ``optimal_output`` gives at least 50%). Every objective of ``conf/loss/`` whose class declares
``has_pointwise_optimum`` runs here (tests/losses/conftest.py); the others are skipped
(test_contract.py checks they raise). Shift-invariant objectives (RSGAN) are compared up to their
free additive constant.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ganbench.losses import GANLoss, HingeLoss
from ganbench.losses.theory import gaussian

DATA, MODEL = gaussian(0.0, 1.0), gaussian(1.0, 1.25)
POOL, BATCH, STEPS, LR = 16_384, 256, 200, 1.5e-2
TOLERANCE = 0.15


@pytest.fixture(scope="module")
def pools() -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(0)
    real = torch.tensor(DATA.sample(POOL, rng), dtype=torch.float32)[:, None]
    fake = torch.tensor(MODEL.sample(POOL, rng), dtype=torch.float32)[:, None]
    return real, fake


def train_discriminator(loss: GANLoss, real: torch.Tensor, fake: torch.Tensor) -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 1))
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1.0 - 0.95 * i / STEPS)
    for _ in range(STEPS):
        i, j = torch.randint(0, POOL, (BATCH,)), torch.randint(0, POOL, (BATCH,))
        opt.zero_grad()
        loss.discriminator_loss(net(real[i]).squeeze(1), net(fake[j]).squeeze(1)).backward()
        opt.step()
        sched.step()
    return net


def test_trained_discriminator_approaches_optimal_output(loss_case, pools):
    name, loss = loss_case
    if not loss.has_pointwise_optimum:
        pytest.skip(f"{name}: {type(loss).__name__} declares has_pointwise_optimum = False")
    net = train_discriminator(loss, *pools)
    grid = np.linspace(-3.0, 4.0, 141)
    p, q = torch.from_numpy(DATA.pdf(grid)), torch.from_numpy(MODEL.pdf(grid))
    region = (p > 0.1) & (q > 0.1)
    optimum = loss.optimal_output(p, q)
    with torch.no_grad():
        trained = net(torch.tensor(grid, dtype=torch.float32)[:, None]).squeeze(1).double()
    compare = region
    if isinstance(loss, HingeLoss):  # sign(p − q) jumps where p = q: compare away from the crossing
        compare = region & ((p - q).abs() / (p + q) > 0.25)
    error = (trained - optimum)[compare]
    if loss.shift_invariant:  # optimal up to an additive constant
        error = error - error.mean()
    spread = (optimum[region].max() - optimum[region].min()).item()
    assert spread > 0.4, f"{name}: the optimum barely varies over the region, the test would prove little"
    worst = error.abs().max().item()
    assert worst < TOLERANCE * spread, f"{name}: max |D − optimal_output| = {worst:.3f}, optimum spans {spread:.3f}"
