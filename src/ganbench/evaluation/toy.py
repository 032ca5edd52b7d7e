"""Mode-collapse metrics for 2-D Gaussian mixtures, as defined by PacGAN (Lin et al. 2018, §5).

On N generated samples:
- a sample is *high quality* when it lies within 3σ of its nearest mode centre;
- a mode is *captured* when it is the nearest mode of at least one high-quality sample;
- *reverse KL* is KL(q ‖ u) between the histogram q of nearest modes over all N samples and the
  uniform distribution u over the K modes (0·log 0 = 0), so it is 0 for perfect balance and
  log K when every sample falls on one mode;
- *mode TV* is the total variation distance between the distribution of samples over K + 1
  outcomes (each mode for a high-quality sample, one "missed" outcome for every other sample) and
  the uniform distribution over the K modes. It is 0 only for perfectly balanced, all
  high-quality samples, and it bounds quality: ``mode_tv >= 1 - high_quality``. Reverse KL alone
  cannot see samples that fall between modes (they still count for their nearest mode), so a
  search that optimises it can pick a spread-out generator; ``mode_tv`` scores balance and quality
  in one number.

Beside them, :mod:`ganbench.evaluation.prdc` gives improved precision and recall (k = 3) and density
and coverage (k = 5) of the raw 2-D samples against as many real samples, drawn once from the
mixture with a private seeded generator (``real_seed``), so the training RNG is never touched.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ganbench.evaluation.contract import Evaluator
from ganbench.evaluation.prdc import DC_K, PRDC
from ganbench.evaluation.selection import bound_settings, select_metrics
from ganbench.rendering import RenderJob


def mode_metrics(samples: Tensor, centers: Tensor, sigma: float) -> dict[str, float]:
    """``modes_captured``, ``high_quality`` (fraction), ``reverse_kl`` and ``mode_tv`` of ``samples`` (N×2)."""
    samples = samples.detach().float().cpu()
    centers = centers.float().cpu()
    dist = torch.cdist(samples, centers)
    nearest_dist, nearest = dist.min(dim=1)
    hq = nearest_dist <= 3.0 * sigma
    k = centers.shape[0]
    finite = torch.isfinite(samples).all(dim=1)
    captured = torch.zeros(k, dtype=torch.bool)
    captured[nearest[hq & finite]] = True
    counts = torch.bincount(nearest[finite], minlength=k).double()
    n = samples.shape[0]
    q = counts / max(n, 1)
    nz = q > 0
    reverse_kl = float((q[nz] * (q[nz] * k).log()).sum()) if finite.any() else math.inf
    on_mode = torch.bincount(nearest[hq & finite], minlength=k).double() / max(n, 1)
    missed = 1.0 - float(on_mode.sum())
    return {
        "modes_captured": int(captured.sum()),
        "high_quality": float((hq & finite).double().mean()),
        "reverse_kl": reverse_kl,
        "mode_tv": 0.5 * (float((on_mode - 1.0 / k).abs().sum()) + missed),
    }


class ToyEvaluator(Evaluator):
    """Computes :func:`mode_metrics`, precision/recall/density/coverage and the scatter plot for a
    Gaussian mixture with mode ``centers`` (K×2) and standard deviation ``sigma``.

    The real reference set of :class:`~ganbench.evaluation.prdc.PRDC` has as many points as each
    evaluation has samples (``num_samples``), drawn once with ``torch.Generator().manual_seed(real_seed)``.
    ``metrics`` (a list of names, or None for all) selects what :meth:`evaluate` returns; PRDC is
    not computed when none of its four metrics is selected.

    ``directions`` declares, for every metric :meth:`evaluate` returns, whether higher (``"max"``)
    or lower (``"min"``) is better; :meth:`info` gives facts about the benchmark (the number of
    modes), which are not metrics. Built from the run's datamodule by :meth:`from_datamodule`.
    """

    for_toy_data = True  # evaluates 2-D samples (validation pairs it with a toy dataset)
    mode_directions: dict[str, str | None] = {
        "modes_captured": "max",
        "high_quality": "max",
        "reverse_kl": "min",
        "mode_tv": "min",
    }
    directions: dict[str, str | None] = {**mode_directions, **PRDC.directions}

    def __init__(
        self,
        centers: Tensor,
        sigma: float,
        num_samples: int = 2500,
        real_seed: int = 0,
        metrics: list[str] | None = None,
    ) -> None:
        from ganbench.data.toy import GaussianMixture2D

        if num_samples < 1:
            raise ValueError(f"evaluator.num_samples must be >= 1, got {num_samples}")
        self.centers = centers.float().cpu()
        self.sigma = float(sigma)
        self.num_samples = int(num_samples)
        self.directions = select_metrics(metrics, self.available_metrics(num_samples=num_samples), "ToyEvaluator")
        self.with_prdc = any(name in PRDC.directions for name in self.directions)
        self.real_seed = int(real_seed)
        self._prdc: PRDC | None = None
        self._mixture = GaussianMixture2D(self.centers, self.sigma)

    @classmethod
    def available_metrics(cls, **settings: Any) -> dict[str, str | None]:
        """Every metric a ToyEvaluator with these settings can compute: the mode metrics, and PRDC
        when ``num_samples`` > 5 (k-NN balls need more than k = 5 samples on each side)."""
        num_samples = bound_settings(cls, settings, skip=("centers", "sigma"))["num_samples"]
        return dict(cls.directions) if num_samples > DC_K else dict(cls.mode_directions)

    @classmethod
    def from_datamodule(cls, datamodule: Any, **settings: Any) -> ToyEvaluator:
        """The evaluator of a toy datamodule's mixture (``datamodule.mixture``: centres and σ)."""
        mixture = getattr(datamodule, "mixture", None)
        if mixture is None:
            raise ValueError(
                f"evaluator=toy measures 2-D Gaussian mixtures; dataset {getattr(datamodule, 'name', '?')} is not one. "
                "Use evaluator=images (or domain) for image datasets, or dataset=ring / grid"
            )
        return cls(mixture.centers, mixture.sigma, **settings)

    def real_samples(self) -> Tensor:
        """The fixed real reference set: ``num_samples`` points from the mixture, seed ``real_seed``."""
        return self._mixture.sample(self.num_samples, torch.Generator().manual_seed(self.real_seed))

    @property
    def num_modes(self) -> int:
        return self.centers.shape[0]

    def evaluate(self, samples: Tensor) -> dict[str, float]:
        """The selected metrics (:attr:`directions`) of ``samples`` (N×2)."""
        out = self._all_metrics(samples)
        return {name: out[name] for name in self.directions}

    def _all_metrics(self, samples: Tensor) -> dict[str, float]:
        samples = samples.detach().float().cpu()
        out = mode_metrics(samples, self.centers, self.sigma)
        if not self.with_prdc:
            return out
        if self._prdc is None:
            self._prdc = PRDC(self.real_samples())
        # Non-finite samples lie in no ball and cover nothing: they count against precision and
        # density, and are left out of the generated neighbourhoods of recall and coverage.
        finite = torch.isfinite(samples).all(dim=1)
        share = float(finite.double().mean()) if samples.shape[0] else 0.0
        if int(finite.sum()) > self._prdc.pr_k:
            pr = self._prdc(samples[finite])
            pr["precision"] *= share
            pr["density"] *= share
        else:  # a diverged generator: no neighbourhoods to measure
            pr = {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
        out.update(pr)
        return out

    def info(self) -> dict[str, int]:
        return {"num_modes": self.num_modes}

    def plot_job(self, samples: Tensor, path: Path, title: str = "") -> RenderJob:
        """The scatter plot of ``samples`` as a :class:`~ganbench.rendering.RenderJob` (numpy data
        only), which the evaluation callback may render in a worker process."""
        return RenderJob(
            "ganbench.evaluation.scatter:scatter_png",
            Path(path),
            {
                "points": samples.detach().float().cpu().numpy(),
                "centers": self.centers.numpy(),
                "sigma": float(self.sigma),
                "title": title,
            },
        )

    @classmethod
    def summary_line(cls, metrics: Mapping[str, Any], info: Mapping[str, Any]) -> str:
        """``modes captured: 8 of 8 | high-quality samples: 48.2% | reverse KL: 0.009`` (every
        metric, ``name=value``, when one of these three was not selected)."""
        if not all(name in metrics for name in ("modes_captured", "high_quality", "reverse_kl")):
            return super().summary_line(metrics, info)
        k = info.get("num_modes")
        return (
            f"modes captured: {metrics['modes_captured']}"
            + (f" of {k}" if k else "")
            + f" | high-quality samples: {100 * float(metrics['high_quality']):.1f}%"
            + f" | reverse KL: {float(metrics['reverse_kl']):.3f}"
        )
