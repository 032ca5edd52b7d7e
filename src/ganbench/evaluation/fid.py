"""FID, KID and IS on features, computed by torchmetrics.

ganbench extracts the features itself (so real ones can be cached) and hands them to torchmetrics'
``FrechetInceptionDistance``, ``KernelInceptionDistance`` and ``InceptionScore`` through an
identity "network":

- FID (Heusel et al. 2017): ‖μ_r − μ_g‖² + Tr(Σ_r + Σ_g − 2 (Σ_r Σ_g)^½), Gaussian fits of the
  features (unbiased covariances), accumulated in float64;
- KID (Bińkowski et al. 2018): the unbiased MMD² with the cubic polynomial kernel
  k(x, y) = (xᵀy / d + 1)³, averaged over ``subsets`` random subsets of ``subset_size`` (mean, std);
- IS (Salimans et al. 2016): exp(E_x KL(p(y|x) ‖ p(y))) from logits, over ``splits`` splits.

The random subsets of KID and IS come from a fixed seed in a forked RNG: an evaluation gives the
same number for the same samples and leaves the training RNG streams untouched.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager

import torch
from torch import Tensor
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.inception import InceptionScore
from torchmetrics.image.kid import KernelInceptionDistance

from ganbench.evaluation.features import IdentityFeatures

_LOCAL = {"sync_on_compute": False}  # ranks gather features themselves (see ImageEvaluator)


@contextmanager
def _quiet():
    """Silence torchmetrics' notes that do not apply here: KID and IS keeping their features (ganbench
    feeds them features, not images) and the spread of a one-split Inception Score."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features in buffer.*")
        warnings.filterwarnings("ignore", message=".*degrees of freedom is <= 0.*")
        yield


class FeatureDistance:
    """FID (and KID) between fixed real features and generated features."""

    def __init__(self, real: Tensor, kid: bool = True, kid_subsets: int = 100, kid_subset_size: int = 1000) -> None:
        if real.dim() != 2 or real.shape[0] < 2:
            raise ValueError(f"need at least 2 real feature vectors (N, D), got shape {tuple(real.shape)}")
        self.num_real, dim = real.shape
        self.fid = FrechetInceptionDistance(feature=IdentityFeatures(dim), reset_real_features=False, **_LOCAL)
        self.kid_subsets, self.kid_subset_size = int(kid_subsets), int(kid_subset_size)
        self.kid = None
        if kid:
            with _quiet():
                self.kid = KernelInceptionDistance(
                    feature=IdentityFeatures(dim),
                    subsets=self.kid_subsets,
                    subset_size=min(self.kid_subset_size, self.num_real),
                    reset_real_features=False,
                    **_LOCAL,
                )
        self._real = real
        self._device: torch.device | None = None

    def _to(self, device: torch.device) -> None:
        if self._device == device:
            return
        self.fid.to(device)
        if self.kid is not None:
            self.kid.to(device)
        if self._device is None:  # first use: accumulate the real features once
            real = self._real.to(device)
            for part in real.split(4096):
                self.fid.update(part, real=True)
                if self.kid is not None:
                    self.kid.update(part, real=True)
            self._real = None
        self._device = device

    def __call__(self, fake: Tensor, seed: int = 0) -> dict[str, float]:
        """``fid`` and, with KID, ``kid`` and ``kid_std`` of generated features ``fake`` (N, D)."""
        if fake.shape[0] < 2:
            raise ValueError("FID needs at least 2 generated samples; raise evaluator.num_samples")
        self._to(fake.device)
        fake = fake.float()
        self.fid.reset()
        self.fid.update(fake, real=False)
        out = {"fid": float(self.fid.compute())}
        if self.kid is not None:
            self.kid.reset()
            self.kid.subset_size = min(self.kid_subset_size, self.num_real, fake.shape[0])
            self.kid.update(fake, real=False)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                mean, std = self.kid.compute()
            out.update(kid=float(mean), kid_std=float(std))
        return out


def frechet_distance(real: Tensor, fake: Tensor) -> float:
    """FID between two sets of feature vectors (N, D), through torchmetrics."""
    return FeatureDistance(real, kid=False)(fake)["fid"]


def inception_score(logits: Tensor, splits: int = 10, seed: int = 0) -> tuple[float, float]:
    """(mean, std) of exp(E_x KL(p(y|x) ‖ p(y))) over ``splits`` random splits of ``logits`` (N, K)."""
    with _quiet():
        metric = InceptionScore(feature=IdentityFeatures(logits.shape[1]), splits=splits, **_LOCAL).to(logits.device)
        metric.update(logits.float())
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            mean, std = metric.compute()
    return float(mean), float(0.0 if splits == 1 else std)
