"""Datasets, selected with ``dataset=<name>``."""

from ganbench.data.digits import DigitsDataModule
from ganbench.data.folder import FolderDataModule
from ganbench.data.images import DatasetNotFoundError, ImageDataModule
from ganbench.data.sampler import IterationSampler
from ganbench.data.torchvision_sets import (
    CelebADataModule,
    CIFAR10DataModule,
    FashionMNISTDataModule,
    MNISTDataModule,
)
from ganbench.data.toy import GaussianMixture2D, GridDataModule, RingDataModule, ToyDataModule

__all__ = [
    "CIFAR10DataModule",
    "CelebADataModule",
    "DatasetNotFoundError",
    "DigitsDataModule",
    "FashionMNISTDataModule",
    "FolderDataModule",
    "GaussianMixture2D",
    "GridDataModule",
    "ImageDataModule",
    "IterationSampler",
    "MNISTDataModule",
    "RingDataModule",
    "ToyDataModule",
]
