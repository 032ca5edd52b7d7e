"""The InfoGAN-style networks of Lucic, Kurach, Michalski, Gelly & Bousquet 2018, "Are GANs
Created Equal? A Large-Scale Study" (NeurIPS), Table 7 ("InfoGAN" architecture), as implemented in
google/compare_gan (``compare_gan/src/gans/abstract_gan.py`` and ``ops.py``, 2018).

Generator, z ∈ U(−1, 1)^64 (compare_gan's ``z_generator``)::

    FC 1024 → BN → LReLU(0.2) → FC 128·(R/4)² → BN → LReLU(0.2) → reshape 128 × R/4 × R/4
    → deconv 4×4 stride 2, 64 → BN → LReLU(0.2) → deconv 4×4 stride 2, C → sigmoid

Discriminator::

    conv 4×4 stride 2, 64 → LReLU(0.2) → conv 4×4 stride 2, 128 → [BN] → LReLU(0.2)
    → FC 1024 → [BN] → LReLU(0.2) → FC 1 (a logit)

BatchNorm as compare_gan's ``tf.contrib.layers.batch_norm(decay=0.999, epsilon=0.001, scale=True)``:
PyTorch ``momentum = 1 − decay = 0.001`` and ``eps = 1e-3``. The discriminator's BN is
compare_gan's ``discriminator_batchnorm`` hyperparameter (``norm``). Every layer has a bias (also
before BN, as in compare_gan); weights start from N(0, 0.02) (truncated at 2σ for the
convolutions, as TF's ``truncated_normal_initializer``), biases from 0. "SAME" padding of a 4×4
stride-2 (de)convolution on an even size is padding 1.

**Output range.** compare_gan trains on images in [0, 1] with a sigmoid generator. ganbench serves
images in [−1, 1], so the generator returns 2·σ(h) − 1 (the same image, stored in ganbench's range)
and the discriminator first maps its input back with x ↦ (x + 1)/2. The game is then compare_gan's
exactly: D sees σ(h) for fakes and the [0, 1] image for reals (tested against a re-implementation
in [0, 1]). ``output="tanh"`` and ``rescale_input=false`` give the plain [−1, 1] variant instead.

At 32×32 the networks have 8,616,131 (G) and 8,527,297 (D, with BN; 8,524,993 without) parameters,
compare_gan's "about 8.6M and 8.5M".
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ganbench.errors import ConfigError
from ganbench.models.latent import check_latent_distribution

OUTPUTS = ("sigmoid", "tanh")
D_NORMS = ("batch", "layer", "none")


def compare_gan_init(module: nn.Module) -> None:
    """compare_gan's initialisation: linear and transposed-conv weights N(0, 0.02), conv weights
    N(0, 0.02) truncated at ±2σ, biases 0; BN scale 1 and offset 0 (PyTorch's default)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.trunc_normal_(m.weight, 0.0, 0.02, -0.04, 0.04)
        elif isinstance(m, (nn.Linear, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        else:
            continue
        nn.init.zeros_(m.bias)


def _batchnorm(kind: type[nn.Module], features: int, momentum: float, eps: float) -> nn.Module:
    return kind(features, momentum=momentum, eps=eps)


def _check_resolution(resolution: int, model: str) -> int:
    if resolution < 8 or resolution % 4:
        raise ConfigError(
            f"{model} needs a resolution divisible by 4 and >= 8 (two stride-2 layers), got {resolution}; "
            "set dataset.resolution, e.g. 32"
        )
    return resolution // 4


class InfoGANGenerator(nn.Module):
    """z (``latent_dim``, ``latent_distribution``) → image (``channels`` × ``resolution``²) in [−1, 1].

    ``hidden`` (1024) and ``base_channels`` (128) are the widths of the FC layers' output and of
    the R/4 × R/4 map; ``width`` (64) the channels of the R/2 × R/2 map. ``leak`` is the LeakyReLU
    slope, ``bn_momentum``/``bn_eps`` the BatchNorm settings, ``output`` the last activation
    (``sigmoid`` mapped to [−1, 1] as 2σ − 1, or ``tanh``).
    """

    def __init__(
        self,
        latent_dim: int = 64,
        channels: int = 3,
        resolution: int = 32,
        hidden: int = 1024,
        base_channels: int = 128,
        width: int = 64,
        leak: float = 0.2,
        bn_momentum: float = 0.001,
        bn_eps: float = 1e-3,
        output: str = "sigmoid",
        latent_distribution: str = "uniform",
    ) -> None:
        super().__init__()
        if output not in OUTPUTS:
            raise ConfigError(f"model.generator.output={output!r} is not an option: choose one of {', '.join(OUTPUTS)}")
        self.latent_distribution = check_latent_distribution(latent_distribution)
        self.latent_dim = int(latent_dim)
        self.data_shape = (channels, resolution, resolution)
        self.output = output
        self.base = (base_channels, _check_resolution(resolution, "InfoGANGenerator"))
        side = self.base[1]
        self.fc = nn.Sequential(
            nn.Linear(latent_dim, hidden),
            _batchnorm(nn.BatchNorm1d, hidden, bn_momentum, bn_eps),
            nn.LeakyReLU(leak),
            nn.Linear(hidden, base_channels * side * side),
            _batchnorm(nn.BatchNorm1d, base_channels * side * side, bn_momentum, bn_eps),
            nn.LeakyReLU(leak),
        )
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(base_channels, width, 4, 2, 1),
            _batchnorm(nn.BatchNorm2d, width, bn_momentum, bn_eps),
            nn.LeakyReLU(leak),
            nn.ConvTranspose2d(width, channels, 4, 2, 1),
        )
        compare_gan_init(self)

    def forward(self, z: Tensor) -> Tensor:
        channels, side = self.base
        h = self.deconv(self.fc(z.view(z.shape[0], -1)).view(-1, channels, side, side))
        if self.output == "sigmoid":
            return torch.sigmoid(h).mul(2).sub(1)  # compare_gan's σ(h) ∈ [0, 1], stored in [−1, 1]
        return torch.tanh(h)


class InfoGANDiscriminator(nn.Module):
    """Image in [−1, 1] → one logit per sample (shape ``(N,)``).

    ``norm`` is the normalisation after the second convolution and the first FC layer: ``batch``
    (compare_gan's ``discriminator_batchnorm=True``), ``layer`` (per-sample, for gradient
    penalties) or ``none``. ``rescale_input`` maps x ↦ (x + 1)/2 first, so D sees compare_gan's
    [0, 1] images.
    """

    def __init__(
        self,
        channels: int = 3,
        resolution: int = 32,
        width: int = 64,
        hidden: int = 1024,
        leak: float = 0.2,
        norm: str = "batch",
        bn_momentum: float = 0.001,
        bn_eps: float = 1e-3,
        rescale_input: bool = True,
    ) -> None:
        super().__init__()
        if norm not in D_NORMS:
            raise ConfigError(
                f"model.discriminator.norm={norm!r} is not an option for InfoGANDiscriminator: "
                f"choose one of {', '.join(D_NORMS)}"
            )
        side = _check_resolution(resolution, "InfoGANDiscriminator")
        self.rescale_input = bool(rescale_input)
        features = 2 * width * side * side

        def norm2d(c: int) -> nn.Module:
            if norm == "batch":
                return _batchnorm(nn.BatchNorm2d, c, bn_momentum, bn_eps)
            return nn.GroupNorm(1, c, eps=bn_eps) if norm == "layer" else nn.Identity()

        def norm1d(c: int) -> nn.Module:
            if norm == "batch":
                return _batchnorm(nn.BatchNorm1d, c, bn_momentum, bn_eps)
            return nn.LayerNorm(c, eps=bn_eps) if norm == "layer" else nn.Identity()

        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 4, 2, 1),
            nn.LeakyReLU(leak),
            nn.Conv2d(width, 2 * width, 4, 2, 1),
            norm2d(2 * width),
            nn.LeakyReLU(leak),
            nn.Flatten(),
            nn.Linear(features, hidden),
            norm1d(hidden),
            nn.LeakyReLU(leak),
            nn.Linear(hidden, 1),
        )
        compare_gan_init(self)

    def forward(self, x: Tensor) -> Tensor:
        if self.rescale_input:
            x = (x + 1) / 2
        return self.net(x).flatten()
