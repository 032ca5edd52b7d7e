"""scikit-learn's bundled 8×8 handwritten digits: 1,797 real images, no download needed.

The images (16 grey levels) are scaled to [0, 255] and resized to ``resolution`` (bilinear), so a
DCGAN at 8, 16 or 32 pixels can train on them on a CPU in minutes. It is the default image dataset
for CPU and CI, and its domain classifier (:mod:`ganbench.evaluation.domain`) trains in seconds.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ganbench.data.images import ImageDataModule, InMemoryImages, resize_uint8
from ganbench.data.torchvision_sets import match_channels


def load_digits_uint8() -> tuple[Tensor, Tensor]:
    """All 1,797 digits as uint8 images (N, 1, 8, 8) in [0, 255] and their int64 labels."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.from_numpy(bunch.images).float().mul(255.0 / 16.0).round().clamp(0, 255).to(torch.uint8)
    return images.unsqueeze(1), torch.from_numpy(bunch.target).long()


class DigitsDataModule(ImageDataModule):
    """The sklearn digits at ``resolution`` pixels (one split, ``all``)."""

    name = "digits"
    splits = ("all",)
    num_classes = 10

    def __init__(self, resolution: int = 16, channels: int = 1, split: str = "all", **kwargs: Any) -> None:
        super().__init__(resolution=resolution, channels=channels, split=split, **kwargs)
        self._arrays: tuple[Tensor, Tensor] | None = None

    def labelled(self, split: str) -> tuple[Tensor, Tensor]:
        self.check_split(split)
        if self._arrays is None:
            images, labels = load_digits_uint8()
            self._arrays = (match_channels(resize_uint8(images, self.resolution), self.channels), labels)
        return self._arrays

    def load(self, split: str) -> InMemoryImages:
        return InMemoryImages(*self.labelled(split))
