"""Samples side by side: one figure per dataset, a panel per group in the table's order, each from
the group's median run.

The median run of a group is the completed run whose optimized metric (its config's
``optimized_metric``, else its evaluator's first metric) is the median of the group's: the runs
sorted from best to worst in the metric's direction, equal values by seed and then by directory,
the middle one (for an even count, the better of the two middle runs).

A panel shows the run's last evaluation plot (``plots/samples_NNNNNN.png``). Committed run records
keep no plots; then the samples are drawn again from ``checkpoints/last.ckpt`` when the run kept
it (a toy scatter over the mode centres, or an image grid, with the evaluation's latent seed), and
otherwise the panel says that the run has neither. A dataset none of whose panels has samples gets no
figure (an existing one is left as it is) and a note saying so: comparing committed run records
regenerates the tables, not the samples.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from ganbench.compare.records import Run
from ganbench.compare.stats import GroupStats, panels, short_key

CHECKPOINT = Path("checkpoints") / "last.ckpt"
TOY_POINTS = 2500  # at most this many points in a regenerated scatter (the toy evaluation's count)
GRID_IMAGES = 64  # images in a regenerated grid


@dataclass
class Panel:
    """One group's panel: its median run, the metric that chose it, and what it shows."""

    group: str
    run: Run | None
    metric: str | None
    value: float | None
    runs: int  # completed runs of the group with the metric
    source: str  # "plot", "checkpoint" or "none"
    note: str
    image: np.ndarray | None = None  # the pixels shown
    points: np.ndarray | None = None  # the samples drawn again from the checkpoint


def optimized_metric(run: Run) -> str | None:
    """The metric the run was ranked by: its config's ``optimized_metric``, else the first metric
    its evaluator declared a direction for."""
    config = run.recorded_config()
    if config is not None:
        name = OmegaConf.select(config, "optimized_metric", default=None, throw_on_missing=False)
        if name:
            return str(name)
    return next(iter(run.summary.get("directions") or {}), None)


def median_run(runs: Sequence[Run], directions: dict[str, str | None]) -> tuple[Run, str, float, int] | None:
    """The median run (see the module docstring), the metric, its value and the number of runs
    ranked; None when no completed run has a metric with a direction to rank by."""
    completed = [r for r in runs if r.status == "completed"]
    names = Counter(m for r in completed if (m := optimized_metric(r)) and directions.get(m) is not None)
    if not names:
        return None
    metric = min(names, key=lambda m: (-names[m], m))  # the most common; equal counts by name
    ranked = [r for r in completed if metric in r.final_metrics()]
    if not ranked:
        return None
    sign = -1.0 if directions[metric] == "max" else 1.0
    ranked.sort(key=lambda r: (sign * r.final_metrics()[metric], int(r.summary.get("seed", 0)), str(r.path)))
    chosen = ranked[(len(ranked) - 1) // 2]
    return chosen, metric, chosen.final_metrics()[metric], len(ranked)


def _read_png(path: Path) -> np.ndarray:
    import matplotlib.image as mpimg

    return mpimg.imread(path)


def regenerate(run: Run, into: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Draw the run's samples again from ``checkpoints/last.ckpt`` and picture them in a PNG under
    ``into``: a toy scatter over the dataset's mode centres, or an image grid. Returns the pixels
    and, for toy data, the points. Raises on a checkpoint or config that cannot be used."""
    from hydra.utils import instantiate

    from ganbench.runs import load_run

    loaded = load_run(run.path, checkpoint=CHECKPOINT.name)
    seed = int(OmegaConf.select(loaded.config, "eval.seed", default=0) or 0)
    title = f"drawn again from {CHECKPOINT} (iteration {loaded.iteration}, latent seed {seed})"
    fd, name = tempfile.mkstemp(dir=into, suffix=".png")
    os.close(fd)
    png = Path(name)
    probe = loaded.sample(1, seed=seed)
    if probe.dim() == 2 and probe.shape[1] == 2:
        from ganbench.evaluation.scatter import scatter_png

        n = int(OmegaConf.select(loaded.config, "evaluator.num_samples", default=TOY_POINTS) or TOY_POINTS)
        points = loaded.sample(min(n, TOY_POINTS), seed=seed).float().numpy()
        mixture = instantiate(loaded.config.dataset).mixture
        scatter_png(png, points, mixture.centers.numpy(), mixture.sigma, title)
        return _read_png(png), points
    if probe.dim() == 4:
        from ganbench.evaluation.grid import save_grid

        save_grid(loaded.sample(GRID_IMAGES, seed=seed), png, title)
        return _read_png(png), None
    raise ValueError(f"samples of shape {tuple(probe.shape[1:])} are neither 2-D points nor images")


def panel(group: str, runs: Sequence[Run], directions: dict[str, str | None], scratch: Path) -> Panel:
    """The panel of one group on one dataset."""
    chosen = median_run(runs, directions)
    if chosen is None:
        return Panel(group, None, None, None, 0, "none", "no completed run with a ranked metric")
    run, metric, value, n = chosen
    plot = run.sample_plot()
    if plot is not None:
        return Panel(group, run, metric, value, n, "plot", f"{plot.parent.name}/{plot.name}", image=_read_png(plot))
    if (run.path / CHECKPOINT).is_file():
        try:
            image, points = regenerate(run, scratch)
        except Exception as err:  # noqa: BLE001 (any unusable checkpoint or config: the panel says so)
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            return Panel(group, run, metric, value, n, "none", f"{CHECKPOINT} could not be sampled: {first}")
        return Panel(group, run, metric, value, n, "checkpoint", f"drawn again from {CHECKPOINT}", image, points)
    return Panel(group, run, metric, value, n, "none", f"the run kept no plots/samples_*.png and no {CHECKPOINT}")


def sample_panels(
    stats: Sequence[GroupStats], by: Sequence[str], directions: dict[str, str | None], scratch: Path
) -> dict[str, list[Panel]]:
    """For each dataset, a panel per group in the table's order."""
    return {
        dataset: [panel(short_key(s, by), runs, directions, scratch) for s, runs in members]
        for dataset, members in panels(stats, by).items()
    }


def file_name(dataset: str) -> str:
    """``samples_<dataset>.png``, the dataset's name made safe for a file name."""
    return "samples_" + (re.sub(r"[^\w.-]+", "_", dataset).strip("_") or "dataset") + ".png"


def _caption(p: Panel) -> str:
    if p.run is None:
        return p.group
    seed = p.run.summary.get("seed")
    return f"{p.group}\nseed {seed}: {p.metric} = {p.value:.3g} (median of {p.runs})"


def plot_samples(path: Path, dataset: str, shown: Sequence[Panel]) -> Path:
    """One PNG: the panels side by side (at most 5 a row), each titled with its group, its median
    run's seed and metric; a panel without samples says why instead."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(len(shown), 5)
    rows = math.ceil(len(shown) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.8 * rows), squeeze=False, layout="constrained")
    flat = [ax for row in axes for ax in row]
    for ax, p in zip(flat, shown):
        ax.set_axis_off()
        ax.set_title(_caption(p), fontsize=8)
        if p.image is not None:
            ax.imshow(p.image, interpolation="nearest")
            if p.source == "checkpoint":
                ax.text(0.5, -0.02, p.note, transform=ax.transAxes, ha="center", va="top", fontsize=6)
        else:
            ax.text(0.5, 0.5, "no samples:\n" + p.note, transform=ax.transAxes, ha="center", va="center",
                    fontsize=7, wrap=True)  # fmt: skip
    for ax in flat[len(shown) :]:
        ax.set_visible(False)
    fig.suptitle(f"{dataset}: samples of each group's median run, in the table's order", fontsize=10)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def write_sample_figures(
    out: Path, stats: Sequence[GroupStats], by: Sequence[str], directions: dict[str, str | None]
) -> tuple[list[Path], list[str]]:
    """``samples_<dataset>.png`` for each dataset, and a note for each panel left without samples."""
    files, notes = [], []
    with tempfile.TemporaryDirectory(prefix="ganbench-samples-") as scratch:
        for dataset, shown in sample_panels(stats, by, directions, Path(scratch)).items():
            if all(p.image is None for p in shown):  # e.g. committed run records: an existing figure stays
                notes.append(f"{dataset}: {file_name(dataset)} not written: no group's median run kept "
                             f"plots/samples_*.png or {CHECKPOINT}")  # fmt: skip
                continue
            files.append(plot_samples(out / file_name(dataset), dataset, shown))
            notes += [f"{dataset}: group {p.group} has no samples in the figure: {p.note}"
                      for p in shown if p.image is None]  # fmt: skip
    return files, notes
