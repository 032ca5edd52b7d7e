"""Toy 2-D Gaussian mixtures for mode-collapse benchmarks (the PacGAN definitions).

Real samples are drawn on the fly, on the model's device, from a seeded ``torch.Generator``:
there is no dataset in memory and no per-step DataLoader work. The DataLoader only yields the
iteration index, so Lightning's loop and progress bar count iterations.

By default every minibatch is fresh from the mixture (an infinite training set). With
``train_size`` N, a fixed training set of N points is drawn once (seed ``train_seed``) and
iterated in epochs, reshuffled each epoch, as in PacGAN's experiments (N = 100,000): see
:class:`FiniteSetSampler`.
"""

from __future__ import annotations

import math

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset


class GaussianMixture2D:
    """An equal-weight mixture of isotropic Gaussians with the given ``centers`` (K×2) and
    standard deviation ``sigma``."""

    def __init__(self, centers: Tensor, sigma: float) -> None:
        if sigma <= 0:
            raise ValueError(f"dataset.sigma must be > 0, got {sigma}")
        self.centers = centers.to(torch.float32)
        self.sigma = float(sigma)
        self._centers_on: dict[torch.device, Tensor] = {}

    @property
    def num_modes(self) -> int:
        return self.centers.shape[0]

    def _centers(self, device: torch.device) -> Tensor:
        if device not in self._centers_on:
            self._centers_on[device] = self.centers.to(device)
        return self._centers_on[device]

    def sample(
        self, n: int, generator: torch.Generator | None = None, device: torch.device | str | None = None
    ) -> Tensor:
        """Draw ``n`` points; with ``generator``, on its device and from its stream."""
        device = (
            torch.device(device)
            if device is not None
            else (generator.device if generator is not None else torch.device("cpu"))
        )
        centers = self._centers(device)
        idx = torch.randint(self.num_modes, (n,), device=device, generator=generator)
        noise = torch.randn((n, 2), device=device, generator=generator)
        return centers[idx] + self.sigma * noise

    def log_density(self, x: Tensor) -> Tensor:
        """log p(x) of the mixture at points ``x`` (N×2)."""
        centers = self._centers(x.device)
        sq = torch.cdist(x, centers).square()
        log_comp = -sq / (2 * self.sigma**2) - math.log(2 * math.pi * self.sigma**2)
        return torch.logsumexp(log_comp, dim=1) - math.log(self.num_modes)


def ring_centers(num_modes: int = 8, radius: float = 1.0) -> Tensor:
    angles = 2 * math.pi * torch.arange(num_modes, dtype=torch.float64) / num_modes
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def grid_centers(side: int = 5, spacing: float = 2.0) -> Tensor:
    coords = (torch.arange(side, dtype=torch.float64) - (side - 1) / 2) * spacing
    xs, ys = torch.meshgrid(coords, coords, indexing="ij")
    return torch.stack([xs.flatten(), ys.flatten()], dim=1).float()


class _IterationIndex(Dataset):
    """``iterations`` items, each its own index: one item per training iteration."""

    def __init__(self, iterations: int) -> None:
        self.iterations = iterations

    def __len__(self) -> int:
        return self.iterations

    def __getitem__(self, i: int) -> int:
        return i


class ToyDataModule(L.LightningDataModule):
    """A 2-D Gaussian mixture sampled on the device; see the module docstring."""

    samples_on_device = True
    data_shape = (2,)

    def __init__(
        self,
        mixture: GaussianMixture2D,
        iterations: int,
        name: str = "toy",
        train_size: int | None = None,
        train_seed: int = 0,
    ) -> None:
        super().__init__()
        if iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {iterations}")
        if train_size is not None and train_size < 1:
            raise ValueError(f"dataset.train_size must be >= 1 or null (fresh samples every batch), got {train_size}")
        self.mixture = mixture
        self.iterations = int(iterations)
        self.name = name
        self.train_size = None if train_size is None else int(train_size)
        self.train_seed = int(train_seed)

    def training_set(self) -> Tensor:
        """The fixed training set (``train_size`` × 2, on the CPU), drawn with seed ``train_seed``."""
        if self.train_size is None:
            raise ValueError("this toy dataset has no fixed training set (dataset.train_size is null)")
        return self.mixture.sample(self.train_size, torch.Generator().manual_seed(self.train_seed))

    def real_sampler(self, seed: int) -> DeviceSampler | FiniteSetSampler:
        """The source of real minibatches for the training step: fresh mixture samples, or the fixed
        training set in shuffled epochs; ``seed`` seeds the draws (or the shuffling)."""
        if self.train_size is None:
            return DeviceSampler(self.mixture, seed)
        return FiniteSetSampler(self.training_set(), seed)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(_IterationIndex(self.iterations), batch_size=None, shuffle=False)


class RingDataModule(ToyDataModule):
    """Ring of ``num_modes`` Gaussians on a circle of ``radius`` (PacGAN: 8, 1, σ = 0.01)."""

    def __init__(
        self,
        iterations: int,
        num_modes: int = 8,
        radius: float = 1.0,
        sigma: float = 0.01,
        train_size: int | None = None,
        train_seed: int = 0,
    ) -> None:
        mixture = GaussianMixture2D(ring_centers(num_modes, radius), sigma)
        super().__init__(mixture, iterations, "ring", train_size, train_seed)


class GridDataModule(ToyDataModule):
    """Square grid of side² Gaussians with ``spacing`` between neighbours (PacGAN: 5×5 at
    {−4, −2, 0, 2, 4}², σ = 0.05)."""

    def __init__(
        self,
        iterations: int,
        side: int = 5,
        spacing: float = 2.0,
        sigma: float = 0.05,
        train_size: int | None = None,
        train_seed: int = 0,
    ) -> None:
        mixture = GaussianMixture2D(grid_centers(side, spacing), sigma)
        super().__init__(mixture, iterations, "grid", train_size, train_seed)


class DeviceSampler:
    """Draws real samples from a mixture on the model's device with a private, seeded stream.

    Called as ``sampler(n, device)``. The generator is created on first use on that device;
    ``state_dict``/``load_state_dict`` carry its state through checkpoints, so a resumed run draws
    exactly the data an uninterrupted one would. A picklable class (not a closure), so it works
    with spawn-based launchers.
    """

    def __init__(self, mixture: GaussianMixture2D, seed: int) -> None:
        self.mixture = mixture
        self.seed = int(seed)
        self._rng: torch.Generator | None = None
        self._pending_state: Tensor | None = None

    def _generator(self, device: torch.device) -> torch.Generator:
        if self._rng is None or self._rng.device != device:
            self._rng = torch.Generator(device=device).manual_seed(self.seed)
            if self._pending_state is not None:
                self._rng.set_state(self._pending_state)
                self._pending_state = None
        return self._rng

    def for_rank(self, rank: int, iteration: int = 0) -> None:
        """Switch to the stream of DDP rank ``rank`` (derived from the seed, the rank and the iteration)."""
        self.seed = self.seed + 7919 * (rank + 1) + 104729 * iteration
        self._rng, self._pending_state = None, None

    def __call__(self, n: int, device: torch.device) -> Tensor:
        return self.mixture.sample(n, self._generator(torch.device(device)))

    def state_dict(self) -> dict[str, Tensor | int | None]:
        return {"seed": self.seed, "rng": self._rng.get_state() if self._rng is not None else None}

    def load_state_dict(self, state: dict) -> None:
        self.seed = int(state["seed"])
        self._rng = None
        self._pending_state = state["rng"]

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        if state["_rng"] is not None:  # generators do not pickle; keep their position
            state["_pending_state"], state["_rng"] = state["_rng"].get_state(), None
        return state


class FiniteSetSampler:
    """Real minibatches from a fixed training set, in epochs: epoch e visits the set in the order of
    a permutation drawn from ``seed`` and e, and consecutive calls take consecutive slices of that
    stream (a minibatch may straddle two epochs).

    The stream is a function of (seed, position) only, so ``state_dict`` holds just those two
    numbers and a resumed run continues with exactly the minibatches an uninterrupted one would
    draw. Called as ``sampler(n, device)``, like :class:`DeviceSampler`; the set moves to the
    device once.
    """

    def __init__(self, data: Tensor, seed: int) -> None:
        if data.dim() != 2 or data.shape[0] < 1:
            raise ValueError(f"the training set must be a non-empty (N, D) tensor, got shape {tuple(data.shape)}")
        self.data = data
        self.seed = int(seed)
        self.position = 0  # samples consumed so far
        self._on: dict[torch.device, Tensor] = {}
        self._perms: dict[int, Tensor] = {}

    @property
    def size(self) -> int:
        return self.data.shape[0]

    def permutation(self, epoch: int) -> Tensor:
        """The visiting order of epoch ``epoch`` (CPU, from a private generator)."""
        if epoch not in self._perms:
            self._perms = {e: p for e, p in self._perms.items() if e >= epoch - 1}
            rng = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perms[epoch] = torch.randperm(self.size, generator=rng)
        return self._perms[epoch]

    def indices(self, start: int, stop: int) -> Tensor:
        """Indices into the set of stream positions [start, stop)."""
        parts = []
        for epoch in range(start // self.size, (stop - 1) // self.size + 1):
            lo, hi = max(start, epoch * self.size), min(stop, (epoch + 1) * self.size)
            parts.append(self.permutation(epoch)[lo - epoch * self.size : hi - epoch * self.size])
        return torch.cat(parts)

    def for_rank(self, rank: int, iteration: int = 0) -> None:
        """Switch to the stream of DDP rank ``rank`` (its own shuffling seed, from the iteration)."""
        self.seed = self.seed + 7919 * (rank + 1) + 104729 * iteration
        self.position, self._perms = 0, {}

    def __call__(self, n: int, device: torch.device) -> Tensor:
        device = torch.device(device)
        if device not in self._on:
            self._on[device] = self.data.to(device)
        idx = self.indices(self.position, self.position + n)
        self.position += n
        return self._on[device][idx.to(device)]

    def state_dict(self) -> dict[str, int]:
        return {"seed": self.seed, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.seed, self.position, self._perms = int(state["seed"]), int(state["position"]), {}

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_on"], state["_perms"] = {}, {}
        return state
