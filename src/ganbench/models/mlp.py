"""Multi-layer perceptrons for low-dimensional (toy) data."""

from __future__ import annotations

from torch import Tensor, nn


def _mlp(in_dim: int, hidden_dim: int, num_layers: int, out_dim: int, activation: nn.Module) -> nn.Sequential:
    if num_layers < 1:
        raise ValueError(f"model num_layers must be >= 1, got {num_layers}")
    layers: list[nn.Module] = []
    dim = in_dim
    for _ in range(num_layers):
        layers += [nn.Linear(dim, hidden_dim), activation]
        dim = hidden_dim
    layers.append(nn.Linear(dim, out_dim))
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """z ~ N(0, I) in ``latent_dim`` dimensions → a point in ``data_dim`` dimensions, through
    ``num_layers`` hidden ReLU layers of ``hidden_dim`` units."""

    def __init__(self, data_dim: int = 2, latent_dim: int = 2, hidden_dim: int = 128, num_layers: int = 3) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.data_shape = (data_dim,)
        self.net = _mlp(latent_dim, hidden_dim, num_layers, data_dim, nn.ReLU())

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """A point in ``data_dim`` dimensions → one raw score per sample (shape ``(N,)``), through
    ``num_layers`` hidden LeakyReLU(0.2) layers of ``hidden_dim`` units. No normalisation layers,
    so gradient penalties are well defined."""

    def __init__(self, data_dim: int = 2, hidden_dim: int = 128, num_layers: int = 3) -> None:
        super().__init__()
        self.net = _mlp(data_dim, hidden_dim, num_layers, 1, nn.LeakyReLU(0.2))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(-1)
