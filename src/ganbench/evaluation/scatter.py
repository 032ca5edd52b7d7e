"""The toy evaluation's scatter plot: samples over the mode centres and their 3σ circles.

Numpy and matplotlib only (no torch), so that :mod:`ganbench.rendering`'s worker process starts in
a fraction of a second. Matplotlib's object API (no pyplot): no global figure state, safe in any
process or thread.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np


def scatter_png(path: Path, points: np.ndarray, centers: np.ndarray, sigma: float, title: str = "") -> Path:
    """Scatter ``points`` (N, 2) over ``centers`` (K, 2) with their 3σ circles into the PNG ``path``
    (written to a temporary file, then renamed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle

    points, centers = np.asarray(points, dtype=np.float64), np.asarray(centers, dtype=np.float64)
    span = float(np.abs(centers).max()) + 0.5 + 6 * sigma
    fig = Figure(figsize=(5, 5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.4, color="tab:blue", label="generated")
    for x, y in centers:
        ax.add_patch(Circle((x, y), 3 * sigma, fill=False, color="tab:red", lw=0.8))
    ax.scatter(centers[:, 0], centers[:, 1], s=12, marker="x", color="tab:red", label="mode centres (3σ)")
    ax.set_xlim(-span, span)
    ax.set_ylim(-span, span)
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize=7)
    ax.set_title(textwrap.fill(title, 70), fontsize=8)  # wrapped: a long title is never clipped
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.png")
    fig.savefig(tmp)
    os.replace(tmp, path)
    return path
