"""DCGAN: Radford, Metz & Chintala 2015, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks" (arXiv:1511.06434), §3 and Fig. 1.

The generator projects z to a 4×4 map and doubles the resolution with stride-2 4×4 transposed
convolutions, halving the channels each time (BatchNorm + ReLU, tanh output). The discriminator
mirrors it with stride-2 4×4 convolutions and LeakyReLU(0.2), no normalisation on its first layer,
and a final 4×4 convolution to one raw score. At 64×64, ``width=128`` gives the paper's
1024-512-256-128 generator; ``width=64`` (the default, as in the PyTorch DCGAN example) halves
every layer, and each halving of the resolution drops one stage. Weights start from N(0, 0.02),
normalisation scales from N(1, 0.02) (paper §4).
"""

from __future__ import annotations

from torch import Tensor, nn

from ganbench.models.layers import normalization, spectral, stages_for


def dcgan_init(module: nn.Module) -> None:
    """The paper's initialisation: conv weights N(0, 0.02), norm scales N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            weight = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            nn.init.normal_(weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class DCGANGenerator(nn.Module):
    """z (``latent_dim``) → image (``channels`` × ``resolution`` × ``resolution``) in [−1, 1].

    ``width`` is the channel count of the last hidden layer; the 4×4 layer has
    ``width · 2^(stages − 1)`` channels with ``stages = log2(resolution) − 2``.
    """

    def __init__(
        self,
        latent_dim: int = 100,
        channels: int = 3,
        resolution: int = 32,
        width: int = 64,
        norm: str = "batch",
    ) -> None:
        super().__init__()
        stages = stages_for(resolution, "DCGANGenerator") - 2
        self.latent_dim = int(latent_dim)
        self.data_shape = (channels, resolution, resolution)
        ch = width * 2 ** (stages - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, ch, 4, 1, 0, bias=norm == "none"),
            normalization(norm, ch),
            nn.ReLU(inplace=True),
        ]
        for _ in range(stages - 1):
            layers += [
                nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=norm == "none"),
                normalization(norm, ch // 2),
                nn.ReLU(inplace=True),
            ]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1))


class DCGANDiscriminator(nn.Module):
    """Image → one raw score per sample (shape ``(N,)``).

    ``norm`` picks the normalisation after every convolution but the first (``batch`` in the
    paper; ``layer``, ``instance`` or ``none`` for gradient penalties); ``spectral_norm`` wraps
    every convolution in spectral normalisation.
    """

    def __init__(
        self,
        channels: int = 3,
        resolution: int = 32,
        width: int = 64,
        norm: str = "batch",
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        stages = stages_for(resolution, "DCGANDiscriminator") - 2
        normalization(norm, 1)  # validates the choice before building
        ch = width
        layers: list[nn.Module] = [spectral(nn.Conv2d(channels, ch, 4, 2, 1), spectral_norm), nn.LeakyReLU(0.2, True)]
        for _ in range(stages - 1):
            layers += [
                spectral(nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=norm == "none"), spectral_norm),
                normalization(norm, ch * 2),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            ch *= 2
        layers.append(spectral(nn.Conv2d(ch, 1, 4, 1, 0), spectral_norm))
        self.net = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).flatten()
