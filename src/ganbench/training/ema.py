"""Exponential moving average of the generator's weights, used for evaluation."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMAGenerator(nn.Module):
    """A frozen copy of the generator whose weights track θ_ema ← β·θ_ema + (1 − β)·θ.

    Before iteration ``start`` the copy simply follows the generator. Buffers (e.g. BatchNorm
    statistics) are copied, not averaged. The parameters never require grad, and the module is
    saved in checkpoints with the rest of the GAN.
    """

    def __init__(self, generator: nn.Module, decay: float = 0.999, start: int = 0) -> None:
        super().__init__()
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"ema.decay must be in [0, 1), got {decay}")
        if start < 0:
            raise ValueError(f"ema.start must be >= 0, got {start}")
        self.decay = float(decay)
        self.start = int(start)
        self.module = copy.deepcopy(generator).requires_grad_(False)

    @torch.no_grad()
    def update(self, generator: nn.Module, iteration: int) -> None:
        ema_params = list(self.module.parameters())
        params = [p.detach() for p in generator.parameters()]
        if iteration < self.start:
            torch._foreach_copy_(ema_params, params)
        else:
            torch._foreach_lerp_(ema_params, params, 1.0 - self.decay)
        for b_ema, b in zip(self.module.buffers(), generator.buffers()):
            b_ema.copy_(b)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.module(z)
