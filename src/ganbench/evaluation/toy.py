"""Mode-collapse metrics for 2-D Gaussian mixtures, as defined by PacGAN (Lin et al. 2018, §5).

On N generated samples:
- a sample is *high quality* when it lies within 3σ of its nearest mode centre;
- a mode is *captured* when it is the nearest mode of at least one high-quality sample;
- *reverse KL* is KL(q ‖ u) between the histogram q of nearest modes over all N samples and the
  uniform distribution u over the K modes (0·log 0 = 0), so it is 0 for perfect balance and
  log K when every sample falls on one mode.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import torch
from torch import Tensor


def mode_metrics(samples: Tensor, centers: Tensor, sigma: float) -> dict[str, float]:
    """``modes_captured``, ``high_quality`` (fraction) and ``reverse_kl`` of ``samples`` (N×2)."""
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
    return {
        "modes_captured": int(captured.sum()),
        "high_quality": float((hq & finite).double().mean()),
        "reverse_kl": reverse_kl,
    }


class ToyEvaluator:
    """Computes :func:`mode_metrics` and draws the scatter plot for a Gaussian mixture.

    ``directions`` declares, for every metric :meth:`metrics` returns, whether higher (``"max"``)
    or lower (``"min"``) is better; :meth:`info` gives facts about the benchmark (the number of
    modes), which are not metrics.
    """

    directions: dict[str, str | None] = {"modes_captured": "max", "high_quality": "max", "reverse_kl": "min"}

    def __init__(self, centers: Tensor, sigma: float, num_samples: int = 2500) -> None:
        self.centers = centers.float().cpu()
        self.sigma = float(sigma)
        self.num_samples = int(num_samples)

    @property
    def num_modes(self) -> int:
        return self.centers.shape[0]

    def metrics(self, samples: Tensor) -> dict[str, float]:
        return mode_metrics(samples, self.centers, self.sigma)

    def info(self) -> dict[str, int]:
        return {"num_modes": self.num_modes}

    def plot(self, samples: Tensor, path: Path, title: str = "") -> Path:
        """Scatter ``samples`` over the mode centres (with their 3σ circles) into a PNG."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        pts = samples.detach().float().cpu().numpy()
        c = self.centers.numpy()
        span = float(abs(c).max()) + 0.5 + 6 * self.sigma
        fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
        ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.4, color="tab:blue", label="generated")
        for x, y in c:
            ax.add_patch(plt.Circle((x, y), 3 * self.sigma, fill=False, color="tab:red", lw=0.8))
        ax.scatter(c[:, 0], c[:, 1], s=12, marker="x", color="tab:red", label="mode centres (3σ)")
        ax.set_xlim(-span, span)
        ax.set_ylim(-span, span)
        ax.set_aspect("equal")
        ax.legend(loc="upper right", fontsize=7)
        ax.set_title(textwrap.fill(title, 70), fontsize=8)  # wrapped: a long title is never clipped
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.png")
        fig.savefig(tmp)
        plt.close(fig)
        tmp.replace(path)
        return path
