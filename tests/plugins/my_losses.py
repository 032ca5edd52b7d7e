"""A user's own loss, outside the ganbench package, used through ``loss._target_``."""

import torch.nn.functional as F


class CountingLoss:
    calls = {"d": 0, "g": 0}
    output_is_logit = True

    def __init__(self):
        CountingLoss.calls = {"d": 0, "g": 0}

    def discriminator_loss(self, real_out, fake_out):
        CountingLoss.calls["d"] += 1
        return F.softplus(-real_out).mean() + F.softplus(fake_out).mean()

    def generator_loss(self, fake_out, real_out=None):
        CountingLoss.calls["g"] += 1
        return F.softplus(-fake_out).mean()


class BareLoss:
    """Exactly what the README asks of a loss: the two methods, no base class, no attributes."""

    def discriminator_loss(self, real_out, fake_out):
        return F.softplus(-real_out).mean() + F.softplus(fake_out).mean()

    def generator_loss(self, fake_out, real_out=None):
        return F.softplus(-fake_out).mean()


class ScaledLoss(BareLoss):
    def __init__(self, scale: float = 1.0):
        self.scale = scale
