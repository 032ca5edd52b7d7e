"""A seeded sampler whose DataLoader epoch is exactly the run: one batch per GAN iteration."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class IterationSampler(Sampler[int]):
    """Yields the dataset indices of ``iterations`` batches of ``batch_size`` for this rank.

    The global index stream is a sequence of random permutations of the dataset (a new one per
    pass, from ``seed`` and the pass number), cut into consecutive batches of ``batch_size``; batch
    ``k`` of the stream goes to rank ``k mod num_replicas``. Every sample is seen once per pass, the
    stream depends only on the seed, and ``start_iteration`` skips the batches already consumed (for
    resuming mid-run without replaying data).

    A plain :class:`~torch.utils.data.Sampler`: ganbench turns off Lightning's sampler replacement
    (``use_distributed_sampler=False``), and this sampler places the data per rank itself.
    """

    def __init__(
        self,
        num_items: int,
        iterations: int,
        batch_size: int,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
        start_iteration: int = 0,
    ) -> None:
        if num_items < batch_size:
            raise ValueError(
                f"the dataset has {num_items} images, fewer than one batch of {batch_size} "
                "(n_critic × batch_size); lower batch_size or n_critic"
            )
        if iterations < 1 or batch_size < 1:
            raise ValueError(f"iterations and batch_size must be >= 1, got {iterations} and {batch_size}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is outside 0..{num_replicas - 1}")
        self.num_items = int(num_items)
        self.iterations = int(iterations)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.start_iteration = int(start_iteration)

    def __len__(self) -> int:
        # Always the whole run: on a mid-run resume Lightning counts the restored batches as already
        # seen and stops after the rest, while the stream continues at ``start_iteration``.
        return self.iterations * self.batch_size

    def _permutation(self, pass_index: int) -> torch.Tensor:
        cache = self.__dict__.setdefault("_cache", {})
        if pass_index not in cache:
            for old in [q for q in cache if q < pass_index - 1]:
                del cache[old]
            rng = torch.Generator().manual_seed(self.seed * 1_000_003 + pass_index)
            cache[pass_index] = torch.randperm(self.num_items, generator=rng)
        return cache[pass_index]

    def batch(self, k: int) -> torch.Tensor:
        """Indices of batch ``k`` of the global stream."""
        start, stop = k * self.batch_size, (k + 1) * self.batch_size
        parts = []
        for p in range(start // self.num_items, (stop - 1) // self.num_items + 1):
            lo, hi = max(start, p * self.num_items), min(stop, (p + 1) * self.num_items)
            parts.append(self._permutation(p)[lo - p * self.num_items : hi - p * self.num_items])
        return torch.cat(parts)

    def __iter__(self) -> Iterator[int]:
        for it in range(self.start_iteration, self.start_iteration + self.iterations):
            yield from self.batch(it * self.num_replicas + self.rank).tolist()
