"""Weight clipping, the Lipschitz constraint of the original WGAN."""

from __future__ import annotations

import torch
from torch import nn

from ganbench.regularizers.base import Regularizer


class WeightClipping(Regularizer):
    """WGAN weight clipping, Arjovsky et al. 2017, Algorithm 1: after every critic update, clamp
    every discriminator parameter into [−c, c] (c = 0.01 in the paper). It adds no penalty."""

    name = "clip"

    def __init__(self, clip_value: float = 0.01) -> None:
        if clip_value <= 0:
            raise ValueError(f"regularizer.clip_value must be > 0, got {clip_value}")
        self.clip_value = float(clip_value)

    @torch.no_grad()
    def after_discriminator_step(self, discriminator: nn.Module) -> None:
        for p in discriminator.parameters():
            p.clamp_(-self.clip_value, self.clip_value)
