"""The MLPs of PacGAN's 2-D experiments: Lin, Khetan, Fanti & Oh 2018, "PacGAN: The power of two
samples in generative adversarial networks" (NeurIPS), §5.1 and the authors' code
(``synthetic_data_experiments/2DGrid_GAN&PacGAN``, a Blocks/Theano ALI derivative).

- Generator: z ~ N(0, I₂) → 4 × [Linear(no bias) → BatchNorm → ReLU] with 400 units → Linear(2)
  with a bias (the only bias of the generator). BatchNorm's running statistics are updated as
  r ← 0.95·r + 0.05·batch (momentum 0.05), as in that code.
- Discriminator: 3 maxout layers of 200 units with 5 pieces each, h = max_p (W_p x + b_p), then a
  linear output: one raw score per input.
- Every weight starts from N(0, 0.02²), every bias from 0.

With ``model.discriminator.packing=m`` the discriminator's input is m × 2 (see
:mod:`ganbench.models.packing`).
"""

from __future__ import annotations

from torch import Tensor, nn


def _normal_init(module: nn.Module, std: float) -> None:
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class Maxout(nn.Module):
    """Linear maxout (Goodfellow et al. 2013): h_i = max_{p < pieces} (W x + b)_{i·pieces + p}."""

    def __init__(self, in_dim: int, out_dim: int, pieces: int) -> None:
        super().__init__()
        if pieces < 1:
            raise ValueError(f"maxout pieces must be >= 1, got {pieces}")
        self.out_dim, self.pieces = int(out_dim), int(pieces)
        self.linear = nn.Linear(in_dim, out_dim * pieces)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x).view(*x.shape[:-1], self.out_dim, self.pieces).amax(dim=-1)


class PacGANGenerator(nn.Module):
    """z (``latent_dim``) → a point in ``data_dim`` dimensions (see the module docstring)."""

    def __init__(
        self,
        data_dim: int = 2,
        latent_dim: int = 2,
        hidden_dim: int = 400,
        num_layers: int = 4,
        bn_momentum: float = 0.05,
        init_std: float = 0.02,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"model.generator.num_layers must be >= 1, got {num_layers}")
        self.latent_dim = int(latent_dim)
        self.data_shape = (data_dim,)
        layers: list[nn.Module] = []
        dim = latent_dim
        for _ in range(num_layers):
            layers += [
                nn.Linear(dim, hidden_dim, bias=False),
                nn.BatchNorm1d(hidden_dim, momentum=bn_momentum),
                nn.ReLU(),
            ]
            dim = hidden_dim
        layers.append(nn.Linear(dim, data_dim))
        self.net = nn.Sequential(*layers)
        _normal_init(self, init_std)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


class PacGANDiscriminator(nn.Module):
    """A point in ``data_dim`` dimensions → one raw score (shape ``(N,)``), through ``num_layers``
    maxout layers of ``hidden_dim`` units with ``pieces`` pieces. No normalisation layers, so
    gradient penalties are well defined."""

    def __init__(
        self, data_dim: int = 2, hidden_dim: int = 200, num_layers: int = 3, pieces: int = 5, init_std: float = 0.02
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"model.discriminator.num_layers must be >= 1, got {num_layers}")
        layers: list[nn.Module] = []
        dim = data_dim
        for _ in range(num_layers):
            layers.append(Maxout(dim, hidden_dim, pieces))
            dim = hidden_dim
        layers.append(nn.Linear(dim, 1))
        self.net = nn.Sequential(*layers)
        _normal_init(self, init_std)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(-1)


__all__ = ["Maxout", "PacGANDiscriminator", "PacGANGenerator"]
