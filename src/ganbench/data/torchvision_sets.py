"""MNIST, Fashion-MNIST, CIFAR-10 and CelebA through torchvision, with ``root`` and ``download``.

Without ``download`` (the default), missing files raise :class:`DatasetNotFoundError` naming the
folder looked in and how to get the data. With it, torchvision downloads the files into ``root``
once (on the first process of a node, in ``prepare_data``).

torchvision checks CIFAR-10's and CelebA's files against their published MD5 sums. Files that are
present but fail the check are reported as such; ``verify=false`` skips the check (for re-packed
copies of the data, and for the tests, which write tiny files in each dataset's on-disk format).
MNIST's gzipped idx files (as distributed) are decompressed in place on first use.
"""

from __future__ import annotations

import gzip
import shutil
from functools import cache
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from ganbench.data.images import (
    ImageDataModule,
    InMemoryImages,
    TransformedImages,
    missing_data_error,
    resize_uint8,
)

# ITU-R BT.601 luma, as PIL's convert("L").
_LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


def match_channels(images: Tensor, channels: int) -> Tensor:
    """uint8 images (N, C, H, W) with C in {1, 3} → ``channels`` channels (grey replicated, or luma)."""
    have = images.shape[1]
    if have == channels:
        return images
    if have == 1 and channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    if have == 3 and channels == 1:
        return (images.float() * _LUMA).sum(1, keepdim=True).round_().clamp_(0, 255).to(torch.uint8)
    raise ValueError(f"cannot convert {have}-channel images to {channels} channels; dataset.channels must be 1 or 3")


@cache
def unverified(name: str) -> type:
    """``torchvision.datasets.<name>`` with its MD5 sums removed: torchvision then only checks that
    the files exist (``check_integrity(path, None)``) and parses them exactly as usual."""
    import torchvision.datasets

    cls = getattr(torchvision.datasets, name)
    attrs: dict[str, Any] = {"__doc__": f"{name} without the MD5 check of its files."}
    if hasattr(cls, "train_list"):  # CIFAR
        attrs["train_list"] = [[f, None] for f, _ in cls.train_list]
        attrs["test_list"] = [[f, None] for f, _ in cls.test_list]
        attrs["meta"] = {**cls.meta, "md5": None}
    if hasattr(cls, "file_list"):  # CelebA
        attrs["file_list"] = [(i, None, f) for i, _, f in cls.file_list]
    return type(f"Unverified{name}", (cls,), attrs)


class TorchvisionDataModule(ImageDataModule):
    """A dataset from ``torchvision.datasets`` stored under ``root``.

    ``verify`` keeps torchvision's MD5 check of the files (where it has one)."""

    torchvision_class = ""
    how_to_get = ""
    expected = ""
    expected_files: tuple[str, ...] = ()  # relative to data_dir: tells "missing" from "corrupted"

    def __init__(self, root: str = "data", download: bool = False, verify: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.root = Path(root).expanduser()
        self.download = bool(download)
        self.verify = bool(verify)

    @property
    def data_dir(self) -> Path:
        """Where torchvision looks for the files."""
        raise NotImplementedError

    def identity(self) -> dict[str, Any]:
        return {"torchvision": self.torchvision_class, "root": str(self.root.resolve())}

    def missing_files(self) -> list[str]:
        """The expected files (relative to :attr:`data_dir`) that do not exist."""
        return [f for f in self.expected_files if not (self.data_dir / f).exists()]

    def _open(self, split: str, download: bool = False, **kwargs: Any) -> Any:
        import torchvision.datasets

        if self.verify:
            cls = getattr(torchvision.datasets, self.torchvision_class)
        else:
            cls = unverified(self.torchvision_class)
        try:
            return cls(str(self.root), download=download, **self._split_kwargs(split), **kwargs)
        except (RuntimeError, OSError) as err:
            missing = self.missing_files()
            if download:
                what, how = "download failed", self.how_to_get
            elif missing or not self.expected_files:
                shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
                what = "not downloaded" + (f"; missing {shown}" if missing else "")
                how = self.how_to_get
            else:
                what = "files present but they fail torchvision's check (MD5 sum or format)"
                how = (
                    "Download the official files again, or, for a re-packed copy you trust, set "
                    "dataset.verify=false to skip the MD5 check."
                )
            raise missing_data_error(
                f"{self.name} ({what})",
                self.data_dir,
                f"It needs {self.expected}. {how} Set dataset.root to the folder that holds "
                f"{self.data_dir.relative_to(self.root)}/ (now dataset.root={self.root}).",
                err,
            ) from err

    def _split_kwargs(self, split: str) -> dict[str, Any]:
        return {"train": split == "train"}

    def prepare_data(self) -> None:
        if self.download:
            for split in self.splits:
                self._open(split, download=True)


class _InMemoryTorchvision(TorchvisionDataModule):
    """A labelled torchvision dataset that fits in memory (``.data`` and ``.targets``)."""

    num_classes = 10

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._arrays: dict[str, tuple[Tensor, Tensor]] = {}

    def _raw(self, split: str) -> tuple[Tensor, Tensor]:
        """uint8 images (N, C, H, W) and labels as stored."""
        raise NotImplementedError

    def labelled(self, split: str) -> tuple[Tensor, Tensor]:
        self.check_split(split)
        if split not in self._arrays:
            images, labels = self._raw(split)
            images = match_channels(resize_uint8(images, self.resolution), self.channels)
            self._arrays[split] = (images, labels)
        return self._arrays[split]

    def load(self, split: str) -> InMemoryImages:
        return InMemoryImages(*self.labelled(split))


class MNISTDataModule(_InMemoryTorchvision):
    """MNIST (LeCun et al. 1998): 60,000 train / 10,000 test 28×28 digits, resized to ``resolution``."""

    name = "mnist"
    torchvision_class = "MNIST"
    expected = (
        "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte "
        "(or the same with .gz)"
    )
    expected_files = (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    )
    how_to_get = (
        "Set dataset.download=true to fetch them (needs internet), or copy the idx files (gzipped or not) from "
        "https://ossci-datasets.s3.amazonaws.com/mnist/ there."
    )

    def __init__(self, resolution: int = 32, channels: int = 1, **kwargs: Any) -> None:
        super().__init__(resolution=resolution, channels=channels, **kwargs)

    @property
    def data_dir(self) -> Path:
        return self.root / self.torchvision_class / "raw"

    def missing_files(self) -> list[str]:
        d = self.data_dir
        return [f for f in self.expected_files if not (d / f).exists() and not (d / f"{f}.gz").exists()]

    def decompress(self) -> None:
        """Decompress ``<file>.gz`` next to it for every expected idx file that exists only gzipped."""
        for name in self.expected_files:
            target, packed = self.data_dir / name, self.data_dir / f"{name}.gz"
            if not target.exists() and packed.is_file():
                tmp = target.with_name(target.name + ".tmp")
                with gzip.open(packed, "rb") as src, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                tmp.replace(target)

    def _open(self, split: str, download: bool = False, **kwargs: Any) -> Any:
        if not download:
            self.decompress()
        return super()._open(split, download=download, **kwargs)

    def _raw(self, split: str) -> tuple[Tensor, Tensor]:
        ds = self._open(split)
        return ds.data.unsqueeze(1).to(torch.uint8), torch.as_tensor(ds.targets).long()


class FashionMNISTDataModule(MNISTDataModule):
    """Fashion-MNIST (Xiao et al. 2017): 60,000 / 10,000 28×28 clothing images in 10 classes."""

    name = "fashion_mnist"
    torchvision_class = "FashionMNIST"
    how_to_get = (
        "Set dataset.download=true to fetch them (needs internet), or copy the (un-gzipped) idx files from "
        "https://github.com/zalandoresearch/fashion-mnist there."
    )


class CIFAR10DataModule(_InMemoryTorchvision):
    """CIFAR-10 (Krizhevsky 2009): 50,000 train / 10,000 test 32×32 colour images in 10 classes."""

    name = "cifar10"
    torchvision_class = "CIFAR10"
    expected = "data_batch_1 … data_batch_5, test_batch and batches.meta (checked against their MD5)"
    expected_files = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta")
    how_to_get = (
        "Set dataset.download=true to fetch cifar-10-python.tar.gz (needs internet), or download it from "
        "https://www.cs.toronto.edu/~kriz/cifar.html and extract it into dataset.root."
    )

    def __init__(self, resolution: int = 32, channels: int = 3, **kwargs: Any) -> None:
        super().__init__(resolution=resolution, channels=channels, **kwargs)

    @property
    def data_dir(self) -> Path:
        return self.root / "cifar-10-batches-py"

    def _raw(self, split: str) -> tuple[Tensor, Tensor]:
        ds = self._open(split)
        images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
        return images, torch.as_tensor(ds.targets).long()


class CelebADataModule(TorchvisionDataModule):
    """CelebA (Liu et al. 2015), aligned and cropped faces (178×218), read lazily from disk: the
    shorter side is resized to ``resolution``, then centre-cropped. Splits: the official
    ``train`` (162,770), ``valid``, ``test`` and ``all``."""

    name = "celeba"
    splits = ("train", "valid", "test", "all")
    torchvision_class = "CelebA"
    expected = (
        "img_align_celeba/ (the JPEGs) and the annotation files list_eval_partition.txt, identity_CelebA.txt, "
        "list_attr_celeba.txt, list_bbox_celeba.txt and list_landmarks_align_celeba.txt (checked against their MD5)"
    )
    expected_files = (
        "img_align_celeba",
        "list_eval_partition.txt",
        "identity_CelebA.txt",
        "list_attr_celeba.txt",
        "list_bbox_celeba.txt",
        "list_landmarks_align_celeba.txt",
    )
    how_to_get = (
        "Download them from https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (Google Drive) and unzip "
        "img_align_celeba.zip there; dataset.download=true tries torchvision's Google Drive download, which "
        "needs internet and the gdown package."
    )

    def __init__(self, resolution: int = 64, channels: int = 3, **kwargs: Any) -> None:
        super().__init__(resolution=resolution, channels=channels, **kwargs)

    @property
    def data_dir(self) -> Path:
        return self.root / "celeba"

    def _split_kwargs(self, split: str) -> dict[str, Any]:
        return {"split": split, "target_type": []}

    def load(self, split: str) -> Dataset:
        return TransformedImages(self._open(split), self.resolution, self.channels)
