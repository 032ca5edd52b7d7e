"""The comparison's plots: each metric against iterations, and the budget curves. Every plot has
one panel per dataset: runs on different data never share an axis."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ganbench.compare.records import Run
from ganbench.compare.stats import BudgetCurve, GroupStats, panels, short_key
from ganbench.compare.tables import axis_label

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


def band(
    curves: Sequence[Sequence[tuple[int, float]]], low: float = 0.25, high: float = 0.75
) -> tuple[list[int], list[float], list[float], list[float]]:
    """At each logged iteration, over the runs: the median and the ``low`` and ``high`` quantiles
    (linear interpolation between the sorted values, numpy's default). Quantiles of the values lie
    between their smallest and largest, so the band never leaves the metric's range (a ±1 std band
    of modes_captured can reach below 0)."""
    at: dict[int, list[float]] = {}
    for c in curves:
        for x, y in c:
            at.setdefault(x, []).append(y)
    xs = sorted(at)
    quantiles = [np.quantile(np.asarray(at[x], dtype=float), [0.5, low, high]) for x in xs]
    return xs, [float(q[0]) for q in quantiles], [float(q[1]) for q in quantiles], [float(q[2]) for q in quantiles]


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


def plot_metric(
    path: Path, metric: str, stats: Sequence[GroupStats], by: Sequence[str], direction: str | None = None
) -> Path | None:
    """One PNG: ``metric`` against iterations, one panel per dataset, a line per group (the median
    over its runs) with the band between the 25 % and 75 % quantiles over its runs (always within
    the values seen, hence within the metric's range); the y axis says which side is better. None
    when no run logged it; :class:`UnplottableError` for values no axis can span."""
    curves = {
        dataset: [(short_key(s, by), len(runs), _curves(runs, metric)) for s, runs in members]
        for dataset, members in panels(stats, by).items()
    }
    _check_range(metric, [y for groups in curves.values() for *_, cs in groups for c in cs for _, y in c])
    data = {}
    for dataset, groups in curves.items():
        lines = [(name, n, *band(cs)) for name, n, cs in groups]
        lines = [line for line in lines if line[2]]
        if lines:
            data[dataset] = lines
    if not data:
        return None
    plt, fig, axes = _figure(len(data))
    colours = _colours(plt, sorted({line[0] for lines in data.values() for line in lines}))
    for ax, (dataset, lines) in zip(axes, data.items()):
        for name, n, xs, medians, lows, highs in lines:
            c = colours[name]
            ax.plot(xs, medians, color=c, label=f"{name} (n={n})", marker="." if len(xs) < 30 else None)
            ax.fill_between(xs, lows, highs, color=c, alpha=0.2)
        ax.set_title(dataset, fontsize=9)
        ax.set_xlabel("iteration")
        ax.set_ylabel(axis_label(metric, direction))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, title="median, band 25–75 % of runs", title_fontsize=7)
    return _finish(plt, fig, axes, len(data), f"{metric}: median over runs, band 25–75 % of runs", path)


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
        ax.set_ylabel(f"expected best of k: {axis_label(metric, direction)}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _finish(plt, fig, axes, len(datasets), f"{metric}: expected best of k trials, band 25–75 %", path)
