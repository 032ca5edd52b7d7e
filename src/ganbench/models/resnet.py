"""ResNet generator and discriminator of SNGAN: Miyato, Kataoka, Koyama & Yoshida 2018, "Spectral
Normalization for Generative Adversarial Networks" (ICLR), Appendix B, Table 4 (CIFAR-10, 32×32).

Generator: z ∈ R^128 → dense → 4×4×256 → 3 up-sampling residual blocks (256 channels) → BN, ReLU,
3×3 conv → tanh. Discriminator: an "optimised" down-sampling block, a down-sampling block and two
plain blocks (128 channels), ReLU, global sum pooling, dense → one raw score; every layer
spectrally normalised. Other power-of-two resolutions add or drop up-/down-sampling blocks.

Residual blocks (Gulrajani et al. 2017's ResNet, as used by SNGAN):
- up: x → BN → ReLU → ×2 up → conv3×3 → BN → ReLU → conv3×3, plus shortcut ×2 up → conv1×1;
- down: x → ReLU → conv3×3 → ReLU → conv3×3 → avgpool2, plus shortcut s → conv1×1 → avgpool2
  (s = x, or the identity s when in and out channels match and there is no down-sampling);
- optimised (first D block, on the image): conv3×3 → ReLU → conv3×3 → avgpool2, plus avgpool2 → conv1×1.

Three choices differ between published implementations; each is a constructor argument:

- ``upsample``: ``nearest`` (SNGAN's Chainer code, ganbench's default) or ``bilinear`` with
  ``align_corners=False`` (Mimicry's ``GBlock``).
- ``shortcut_activation``: what the shortcut of a non-optimised D block reads. ``none`` reads x
  (SNGAN's Chainer code, ganbench's default). ``relu`` reads ReLU(x): Mimicry's ``DBlock`` applies
  an *in-place* ``nn.ReLU(True)`` to x at the start of its residual branch, and ``forward`` computes
  ``_residual(x) + _shortcut(x)`` in that order, so its shortcut sees the rectified x. Mimicry's
  published SNGAN numbers come from that network.
- ``bias_init``: ``zero`` (ganbench's default) or ``default`` (PyTorch's U(−1/√fan_in, 1/√fan_in),
  which Mimicry keeps: it re-initialises only the weights, with Xavier-uniform).

With ``upsample=bilinear``, ``shortcut_activation=relu`` and ``bias_init=default`` the networks are
Mimicry's ``ResNetGenerator32`` / ``ResNetDiscriminator32`` (same outputs for the same weights;
tests/models/test_mimicry_equivalence.py), which ``+experiment=cifar10_sngan`` selects.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from ganbench.errors import ConfigError
from ganbench.models.layers import normalization, spectral, stages_for

UPSAMPLE_MODES = ("nearest", "bilinear")
SHORTCUT_ACTIVATIONS = ("none", "relu")
BIAS_INITS = ("zero", "default")


def _choice(value: str, allowed: tuple[str, ...], key: str) -> str:
    if value not in allowed:
        raise ConfigError(f"{key}={value!r} is not an option: choose one of {', '.join(allowed)}")
    return value


def _xavier(module: nn.Module, gain: float, bias_init: str = "zero") -> nn.Module:
    """Xavier-uniform weights with ``gain``; biases zeroed (``bias_init="zero"``) or left at
    PyTorch's default initialisation (``"default"``)."""
    weight = module.parametrizations.weight.original if hasattr(module, "parametrizations") else module.weight
    nn.init.xavier_uniform_(weight, gain)
    if module.bias is not None and bias_init == "zero":
        nn.init.zeros_(module.bias)
    return module


def upsample2(x: Tensor, mode: str) -> Tensor:
    """×2 up-sampling: ``nearest``, or ``bilinear`` with ``align_corners=False``."""
    if mode == "bilinear":
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    return F.interpolate(x, scale_factor=2, mode="nearest")


class GeneratorBlock(nn.Module):
    """Up-sampling residual block of the generator."""

    def __init__(
        self, in_ch: int, out_ch: int, norm: str = "batch", upsample: str = "nearest", bias_init: str = "zero"
    ) -> None:
        super().__init__()
        self.upsample = _choice(upsample, UPSAMPLE_MODES, "model.generator.upsample")
        _choice(bias_init, BIAS_INITS, "model.generator.bias_init")
        self.norm1 = normalization(norm, in_ch)
        self.conv1 = _xavier(nn.Conv2d(in_ch, out_ch, 3, 1, 1), math.sqrt(2), bias_init)
        self.norm2 = normalization(norm, out_ch)
        self.conv2 = _xavier(nn.Conv2d(out_ch, out_ch, 3, 1, 1), math.sqrt(2), bias_init)
        self.shortcut = _xavier(nn.Conv2d(in_ch, out_ch, 1, 1, 0), 1.0, bias_init)

    def forward(self, x: Tensor) -> Tensor:
        h = upsample2(F.relu(self.norm1(x)), self.upsample)
        h = self.conv2(F.relu(self.norm2(self.conv1(h))))
        return h + self.shortcut(upsample2(x, self.upsample))


class DiscriminatorBlock(nn.Module):
    """Residual block of the discriminator; ``optimized`` is the first block, which sees the image
    (no ReLU before its first convolution, pooling before the shortcut convolution).

    ``shortcut_activation="relu"`` feeds ReLU(x) instead of x to the shortcut of a non-optimised
    block (Mimicry's in-place ReLU, see the module docstring); the optimised block is unaffected."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        downsample: bool,
        optimized: bool = False,
        norm: str = "none",
        spectral_norm: bool = True,
        shortcut_activation: str = "none",
        bias_init: str = "zero",
    ) -> None:
        super().__init__()
        self.downsample = downsample
        self.optimized = optimized
        self.shortcut_activation = _choice(
            shortcut_activation, SHORTCUT_ACTIVATIONS, "model.discriminator.shortcut_activation"
        )
        _choice(bias_init, BIAS_INITS, "model.discriminator.bias_init")
        self.norm1 = nn.Identity() if optimized else normalization(norm, in_ch)
        self.conv1 = spectral(_xavier(nn.Conv2d(in_ch, out_ch, 3, 1, 1), math.sqrt(2), bias_init), spectral_norm)
        self.norm2 = normalization(norm, out_ch)
        self.conv2 = spectral(_xavier(nn.Conv2d(out_ch, out_ch, 3, 1, 1), math.sqrt(2), bias_init), spectral_norm)
        self.learnable_shortcut = optimized or downsample or in_ch != out_ch
        if self.learnable_shortcut:
            self.shortcut = spectral(_xavier(nn.Conv2d(in_ch, out_ch, 1, 1, 0), 1.0, bias_init), spectral_norm)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(x if self.optimized else F.relu(self.norm1(x)))
        h = self.conv2(F.relu(self.norm2(h)))
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        sc = F.relu(x) if (self.shortcut_activation == "relu" and not self.optimized) else x
        if self.optimized:
            sc = self.shortcut(F.avg_pool2d(sc, 2) if self.downsample else sc)
        elif self.learnable_shortcut:
            sc = self.shortcut(sc)
            if self.downsample:
                sc = F.avg_pool2d(sc, 2)
        return h + sc


class ResNetGenerator(nn.Module):
    """z (``latent_dim``) → image in [−1, 1]; ``width`` channels in every block (256 in SNGAN).

    ``upsample`` (``nearest`` | ``bilinear``) and ``bias_init`` (``zero`` | ``default``): see the
    module docstring; Mimicry uses ``bilinear`` and ``default``."""

    def __init__(
        self,
        latent_dim: int = 128,
        channels: int = 3,
        resolution: int = 32,
        width: int = 256,
        norm: str = "batch",
        upsample: str = "nearest",
        bias_init: str = "zero",
    ) -> None:
        super().__init__()
        blocks = stages_for(resolution, "ResNetGenerator") - 2
        self.latent_dim = int(latent_dim)
        self.data_shape = (channels, resolution, resolution)
        self.width = width
        self.dense = _xavier(nn.Linear(latent_dim, 4 * 4 * width), 1.0, bias_init)
        self.blocks = nn.Sequential(*[GeneratorBlock(width, width, norm, upsample, bias_init) for _ in range(blocks)])
        self.norm = normalization(norm, width)
        self.out = _xavier(nn.Conv2d(width, channels, 3, 1, 1), 1.0, bias_init)

    def forward(self, z: Tensor) -> Tensor:
        h = self.dense(z.view(z.shape[0], -1)).view(-1, self.width, 4, 4)
        return self.out(F.relu(self.norm(self.blocks(h)))).tanh()


class ResNetDiscriminator(nn.Module):
    """Image → one raw score per sample (shape ``(N,)``); ``width`` channels (128 in SNGAN).

    Down-sampling blocks bring the image to 8×8 (two at 32×32), then two plain blocks follow.
    ``spectral_norm`` (on by default, as in SNGAN) wraps every layer; ``norm`` adds a
    normalisation before each ReLU (``none`` in SNGAN). ``shortcut_activation`` (``none`` |
    ``relu``) and ``bias_init`` (``zero`` | ``default``): see the module docstring; Mimicry's
    network is ``relu`` and ``default``.
    """

    def __init__(
        self,
        channels: int = 3,
        resolution: int = 32,
        width: int = 128,
        norm: str = "none",
        spectral_norm: bool = True,
        shortcut_activation: str = "none",
        bias_init: str = "zero",
    ) -> None:
        super().__init__()
        downs = stages_for(resolution, "ResNetDiscriminator", minimum=16) - 3
        common = dict(
            norm=norm, spectral_norm=spectral_norm, shortcut_activation=shortcut_activation, bias_init=bias_init
        )
        blocks = [DiscriminatorBlock(channels, width, True, optimized=True, **common)]
        blocks += [DiscriminatorBlock(width, width, True, **common) for _ in range(downs - 1)]
        blocks += [DiscriminatorBlock(width, width, False, **common) for _ in range(2)]
        self.blocks = nn.Sequential(*blocks)
        self.dense = spectral(_xavier(nn.Linear(width, 1), 1.0, bias_init), spectral_norm)

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu(self.blocks(x)).sum(dim=(2, 3))  # global sum pooling
        return self.dense(h).flatten()
