"""Datasets, selected with ``dataset=<name>``."""

from ganbench.data.toy import GaussianMixture2D, GridDataModule, RingDataModule, ToyDataModule

__all__ = ["GaussianMixture2D", "GridDataModule", "RingDataModule", "ToyDataModule"]
