"""The common part of the image datamodules: in-memory and on-disk image datasets, the DataLoader
that yields one ``n_critic × batch_size`` batch per iteration, and real images for evaluation.

Images are served as float tensors in [−1, 1] (the range of a tanh generator), ``channels`` ×
``resolution`` × ``resolution``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset

from ganbench.data.sampler import IterationSampler


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are missing (and downloading was not asked for, or failed)."""


def missing_data_error(name: str, path: Any, how: str, cause: BaseException | None = None) -> DatasetNotFoundError:
    """A :class:`DatasetNotFoundError` naming the dataset, the path it looked in and how to get the data."""
    why = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
    return DatasetNotFoundError(f"{name} not found at {path}{why}. {how}")


def uint8_to_signed(images: Tensor) -> Tensor:
    """uint8 images in [0, 255] → float32 in [−1, 1]."""
    return images.float().div_(127.5).sub_(1.0)


def resize_uint8(images: Tensor, resolution: int, chunk: int = 4096) -> Tensor:
    """Resize square uint8 images (N, C, H, W) to ``resolution`` with bilinear interpolation
    (antialiased when shrinking), rounding back to uint8."""
    if images.shape[-1] == resolution and images.shape[-2] == resolution:
        return images.contiguous()
    out = []
    shrink = resolution < images.shape[-1]
    for part in images.split(chunk):
        x = F.interpolate(
            part.float(), size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=shrink
        )
        out.append(x.round_().clamp_(0, 255).to(torch.uint8))
    return torch.cat(out)


class InMemoryImages(Dataset):
    """uint8 images (N, C, R, R) held in memory, served as float32 in [−1, 1]; ``labels`` optional.

    ``__getitems__`` serves a whole batch with one indexing operation."""

    def __init__(self, images: Tensor, labels: Tensor | None = None) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"expected uint8 images of shape (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
        self.images = images
        self.labels = labels

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> Tensor:
        return uint8_to_signed(self.images[index])

    def __getitems__(self, indices: Sequence[int]) -> Tensor:
        return uint8_to_signed(self.images[torch.as_tensor(indices)])


class _ConvertMode:
    """PIL image → image in ``mode`` (a class, not a lambda, so DataLoader workers can pickle it)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def __call__(self, image: Any) -> Any:
        return image.convert(self.mode)


def pil_transform(resolution: int, channels: int):
    """PIL image → uint8 tensor (channels, resolution, resolution): convert the mode, resize the
    shorter side to ``resolution`` (bilinear, antialiased) and centre-crop."""
    from torchvision.transforms import v2

    mode = {1: "L", 3: "RGB"}.get(channels)
    if mode is None:
        raise ValueError(f"dataset.channels must be 1 or 3, got {channels}")
    return v2.Compose(
        [
            _ConvertMode(mode),
            v2.PILToTensor(),
            v2.Resize(resolution, interpolation=v2.InterpolationMode.BILINEAR, antialias=True),
            v2.CenterCrop(resolution),
        ]
    )


class TransformedImages(Dataset):
    """Wraps a dataset of PIL images (or (image, target) pairs) loaded lazily from disk and serves
    float32 tensors in [−1, 1] of shape (channels, resolution, resolution)."""

    def __init__(self, dataset: Dataset, resolution: int, channels: int) -> None:
        self.dataset = dataset
        self.transform = pil_transform(resolution, channels)

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Tensor:
        item = self.dataset[index]
        image = item[0] if isinstance(item, tuple) else item
        return uint8_to_signed(self.transform(image))


def stack_images(batch: Tensor | list[Tensor]) -> Tensor:
    """Collate: a batch served whole by ``__getitems__`` passes through; single images are stacked."""
    return batch if isinstance(batch, Tensor) else torch.stack(batch)


class ImageDataModule(L.LightningDataModule):
    """Base class of the image datasets.

    The training DataLoader yields, per GAN iteration, one tensor of ``n_critic × batch_size``
    images in [−1, 1] (the GANModule splits it into the critic minibatches). It draws them with an
    :class:`IterationSampler` seeded by ``seed``, so one DataLoader epoch is exactly ``iterations``
    batches. Under DDP (Lightning's ``use_distributed_sampler=False``) the sampler shards the
    stream itself: batch ``k`` goes to rank ``k mod world_size``. The number of iterations consumed
    is saved in checkpoints (:meth:`state_dict`), so a resumed run continues the same stream
    without replaying data. Subclasses implement :meth:`load` (and :meth:`labelled` when the data
    has class labels, which the domain classifier needs).

    The evaluator (``conf/evaluator/``) is built beside the datamodule and reads the real images
    through :meth:`real_images`, :meth:`labelled` and :meth:`data_shape`.
    """

    samples_on_device = False
    name = "images"
    splits: tuple[str, ...] = ("train", "test")
    num_classes: int | None = None

    def __init__(
        self,
        *,
        channels: int,
        resolution: int,
        batch_size: int,
        n_critic: int = 1,
        iterations: int = 1,
        seed: int = 0,
        split: str = "train",
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        if channels not in (1, 3):
            raise ValueError(f"dataset.channels must be 1 or 3, got {channels}")
        if resolution < 4:
            raise ValueError(f"dataset.resolution must be >= 4, got {resolution}")
        if batch_size < 1 or n_critic < 1 or iterations < 1:
            raise ValueError(
                f"batch_size, n_critic and iterations must be >= 1, got {batch_size}, {n_critic}, {iterations}"
            )
        self.check_split(split)
        self.channels = int(channels)
        self.resolution = int(resolution)
        self.batch_size = int(batch_size)
        self.n_critic = int(n_critic)
        self.iterations = int(iterations)
        self.seed = int(seed)
        self.split = split
        self.num_workers = int(num_workers)
        self._loaded: dict[str, Dataset] = {}
        self._start_iteration = 0

    # ------------------------------------------------------------------ what subclasses provide
    def load(self, split: str) -> Dataset:
        """The images of ``split`` as a dataset of float tensors in [−1, 1], shape :attr:`data_shape`."""
        raise NotImplementedError

    def labelled(self, split: str) -> tuple[Tensor, Tensor] | None:
        """(uint8 images (N, C, R, R), int64 labels) of ``split``, or None for unlabelled data."""
        return None

    def identity(self) -> dict[str, Any]:
        """What identifies the data for the real-statistics cache (beyond name, split, resolution)."""
        return {}

    # ------------------------------------------------------------------ common behaviour
    @property
    def data_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.resolution, self.resolution)

    def check_split(self, split: str) -> None:
        if split not in self.splits:
            raise ValueError(f"{self.name} has splits {', '.join(self.splits)}; got split={split!r}")

    def dataset(self, split: str) -> Dataset:
        """The (cached) dataset of ``split``."""
        self.check_split(split)
        if split not in self._loaded:
            self._loaded[split] = self.load(split)
        return self._loaded[split]

    def setup(self, stage: str | None = None) -> None:
        self.dataset(self.split)

    def _rank(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return 0, 1
        return int(trainer.global_rank), int(trainer.world_size)

    def state_dict(self) -> dict[str, Any]:
        """Saved in checkpoints: how many iterations of the data stream were consumed."""
        trainer = getattr(self, "trainer", None)
        done = trainer.global_step // (self.n_critic + 1) if trainer is not None else self._start_iteration
        return {"iteration": int(done), "seed": self.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """On resume (before the DataLoader is made): continue the data stream where it stopped."""
        self._start_iteration = int(state.get("iteration", 0))

    def train_dataloader(self) -> DataLoader:
        data = self.dataset(self.split)
        rank, world = self._rank()
        per_iteration = self.n_critic * self.batch_size
        sampler = IterationSampler(
            len(data), self.iterations, per_iteration, self.seed, world, rank, start_iteration=self._start_iteration
        )
        return DataLoader(
            data,
            batch_size=per_iteration,
            sampler=sampler,
            drop_last=True,
            num_workers=self.num_workers,
            collate_fn=stack_images,
            persistent_workers=self.num_workers > 0,
        )

    def real_images(self, split: str, num: int | None, seed: int = 0, batch_size: int = 500) -> Iterator[Tensor]:
        """Batches of real images in [−1, 1] from ``split``: a subset of ``num`` images drawn without
        replacement with ``seed`` (all of them, in order, when ``num`` is None or covers the split)."""
        data = self.dataset(split)
        n = len(data)
        if num is not None and num < n:
            idx = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:num].sort().values.tolist()
            data = Subset(data, idx)
        # In-memory datasets serve whole batches through __getitems__ (Subset forwards it).
        yield from DataLoader(data, batch_size=batch_size, num_workers=self.num_workers, collate_fn=stack_images)

    def num_real(self, split: str, num: int | None) -> int:
        n = len(self.dataset(split))
        return n if num is None else min(int(num), n)
