"""WGAN-GP with a target norm k: λ·E[(‖∇D(x̂)‖ − k)²], checked on a linear critic D(x) = w·x,
whose input gradient is w everywhere: the penalty is λ(‖w‖ − k)² exactly."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganbench.regularizers import GradientPenalty


@pytest.mark.parametrize("weight,target", [(10.0, 1.0), (40.0, 0.5), (3.0, 2.5)])
def test_linear_critic(weight, target):
    d = nn.Linear(4, 1, bias=False)
    with torch.no_grad():
        d.weight.copy_(torch.tensor([[3.0, 0.0, 4.0, 0.0]]))  # ‖w‖ = 5
    real, fake = torch.randn(8, 4), torch.randn(8, 4)
    penalty = GradientPenalty(weight, target_norm=target).penalty(lambda x: d(x).flatten(), real, fake)
    assert penalty.item() == pytest.approx(weight * (5.0 - target) ** 2, rel=1e-6)


def test_default_target_is_one_and_negative_is_refused():
    assert GradientPenalty().target_norm == 1.0
    with pytest.raises(ValueError, match="target_norm"):
        GradientPenalty(target_norm=-1.0)
