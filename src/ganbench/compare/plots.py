"""The comparison's plots: each metric against iterations, and the budget curves. Every plot has
one panel per dataset: runs on different data never share an axis."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ganbench.compare.records import Run
from ganbench.compare.stats import BudgetCurve, GroupStats, mean, panels, short_key, stdev
from ganbench.compare.tables import ARROW

# Matplotlib cannot lay out an axis whose span nears the largest float (its tick and margin
# arithmetic overflows): a metric with values beyond this gets no plot, and a warning.
PLOTTABLE = 1e300


class UnplottableError(ValueError):
    """A metric whose values no plot axis can span."""


def _check_range(metric: str, values: Sequence[float]) -> None:
    peak = max((abs(v) for v in values if math.isfinite(v)), default=0.0)
    if peak > PLOTTABLE:
        raise UnplottableError(
            f"metric {metric}: values up to {peak:.3g} are beyond what a plot axis can span: no plot"
        )


def band(curves: Sequence[Sequence[tuple[int, float]]]) -> tuple[list[int], list[float], list[float]]:
    """Mean and standard deviation (ddof = 1; 0 for one run) over runs at each logged iteration."""
    at: dict[int, list[float]] = {}
    for c in curves:
        for x, y in c:
            at.setdefault(x, []).append(y)
    xs = sorted(at)
    means = [mean(at[x]) for x in xs]
    stds = [stdev(at[x]) if len(at[x]) > 1 else 0.0 for x in xs]
    return xs, means, stds


def _figure(n_panels: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(n_panels, 3)
    rows = math.ceil(n_panels / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.2 * rows), squeeze=False, layout="constrained")
    return plt, fig, [ax for row in axes for ax in row]


def _colours(plt, names: Sequence[str]) -> dict[str, Any]:
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    return {name: cmap(i % cmap.N) for i, name in enumerate(names)}


def _finish(plt, fig, axes, used: int, title: str, path: Path) -> Path:
    for ax in axes[used:]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _curves(runs: Sequence[Run], metric: str) -> list[list[tuple[int, float]]]:
    return [r.curve(metric) for r in runs]


def plot_metric(path: Path, metric: str, stats: Sequence[GroupStats], by: Sequence[str]) -> Path | None:
    """One PNG: ``metric`` against iterations, one panel per dataset, a line per group (the mean over
    its runs) with a ±1 std band. None when no run logged it; :class:`UnplottableError` for values no
    axis can span."""
    data = {}
    for dataset, members in panels(stats, by).items():
        lines = []
        for s, runs in members:
            xs, means, stds = band(_curves(runs, metric))
            if xs:
                lines.append((short_key(s, by), len(runs), xs, means, stds))
        if lines:
            data[dataset] = lines
    if not data:
        return None
    _check_range(metric, [y for lines in data.values() for line in lines for y in (*line[3], *line[4])])
    plt, fig, axes = _figure(len(data))
    colours = _colours(plt, sorted({line[0] for lines in data.values() for line in lines}))
    for ax, (dataset, lines) in zip(axes, data.items()):
        for name, n, xs, means, stds in lines:
            c = colours[name]
            ax.plot(xs, means, color=c, label=f"{name} (n={n})", marker="." if len(xs) < 30 else None)
            ax.fill_between(xs, [m - d for m, d in zip(means, stds)], [m + d for m, d in zip(means, stds)],
                            color=c, alpha=0.2)  # fmt: skip
        ax.set_title(dataset, fontsize=9)
        ax.set_xlabel("iteration")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _finish(plt, fig, axes, len(data), f"{metric}: mean over runs, band ±1 std", path)


def plot_budget(path: Path, metric: str, direction: str, curves: Sequence[BudgetCurve]) -> Path | None:
    """One PNG: the expected best ``metric`` of k trials against k, one panel per dataset, a line per
    group with its 25–75 % band (Lucic et al. 2018, Fig. 4). None when no curve has the metric;
    :class:`UnplottableError` for values no axis can span."""
    mine = [c for c in curves if c.metric == metric]
    if not mine:
        return None
    _check_range(metric, [v for c in mine for p in c.points for v in (p.mean, p.q_low, p.q_high)])
    datasets = sorted({c.dataset for c in mine})
    plt, fig, axes = _figure(len(datasets))
    colours = _colours(plt, sorted({c.group for c in mine}))
    for ax, dataset in zip(axes, datasets):
        for c in (c for c in mine if c.dataset == dataset):
            ks = [p.k for p in c.points if not math.isnan(p.mean)]
            pts = [p for p in c.points if not math.isnan(p.mean)]
            colour = colours[c.group]
            label = f"{c.group} (N={c.n_trials}" + (f", {c.n_failed} failed)" if c.n_failed else ")")
            ax.plot(ks, [p.mean for p in pts], color=colour, label=label, marker="." if len(ks) < 30 else None)
            ax.fill_between(ks, [p.q_low for p in pts], [p.q_high for p in pts], color=colour, alpha=0.2, step=None)
        ax.set_title(dataset, fontsize=9)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_xlabel("number of trials k")
        ax.set_ylabel(f"best {metric} of k {ARROW[direction]}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _finish(plt, fig, axes, len(datasets), f"{metric}: expected best of k trials, band 25–75 %", path)
