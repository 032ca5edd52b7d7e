"""Latent distributions of the generators: z ~ N(0, I) (the default) or z ~ U(−1, 1)^d.

A generator declares its own with a ``latent_distribution`` attribute (``"normal"`` when absent);
the training loop and the evaluation draw every latent through :func:`sample_latent`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ganbench.errors import ConfigError

LATENT_DISTRIBUTIONS = ("normal", "uniform")


def check_latent_distribution(name: str, key: str = "model.generator.latent_distribution") -> str:
    """``name`` if it is a known latent distribution, else a :class:`ConfigError` naming ``key``."""
    if name not in LATENT_DISTRIBUTIONS:
        raise ConfigError(f"{key}={name!r} is not an option: choose one of {', '.join(LATENT_DISTRIBUTIONS)}")
    return name


def sample_latent(
    distribution: str,
    n: int,
    dim: int,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """``n`` latent vectors of ``dim`` dimensions: ``normal`` N(0, I), or ``uniform`` U(−1, 1)
    per coordinate (Lucic et al. 2018's z, drawn as 2·U(0, 1) − 1)."""
    if distribution == "normal":
        return torch.randn((n, dim), device=device, generator=generator)
    if distribution == "uniform":
        return torch.rand((n, dim), device=device, generator=generator).mul_(2).sub_(1)
    check_latent_distribution(distribution)
    raise AssertionError("unreachable")


def generate(
    generator: nn.Module, n: int, rng: torch.Generator | None, device: torch.device | str, chunk: int = 2048
) -> Tensor:
    """``n`` samples of ``generator`` (as it is: call it in eval mode and under no_grad), its latents
    drawn from ``rng`` (its ``latent_distribution``, N(0, I) when it declares none) ``chunk`` at a time."""
    distribution = getattr(generator, "latent_distribution", "normal")
    dim = int(generator.latent_dim)
    return torch.cat(
        [generator(sample_latent(distribution, min(chunk, n - i), dim, device, rng)) for i in range(0, n, chunk)]
    )
