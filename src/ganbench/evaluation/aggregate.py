"""Combining evaluations: repeated draws of one evaluation (``eval.repeats``) and the best value
of each metric over the evaluations of a run (``eval.best``).

Both use the evaluator's declared ``directions`` (metric → ``"min"``, ``"max"`` or None): only a
metric with a better side gets a spread over seeds and a best value; ``kid_std`` or ``is_std`` (the
spread of an estimate) are averaged and nothing more.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

SEED_STD = "_seed_std"
BEST = "best_"


def population_std(values: Sequence[float]) -> float:
    """√(Σ(v − mean)² / n), the ``np.std`` (ddof = 0) Mimicry reports over its seeds; NaN if a value
    is not finite."""
    if not all(math.isfinite(v) for v in values):
        return math.nan
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def combine_repeats(results: Sequence[Mapping[str, float]], directions: Mapping[str, str | None]) -> dict[str, float]:
    """One metrics dict from the evaluations of several latent seeds: every metric is the mean over
    the repeats, and every metric with a direction also gets ``<metric>_seed_std``, the population
    standard deviation over the repeats (as Mimicry: FID 16.77 ± std over 3 seeds). One result is
    returned unchanged."""
    if not results:
        raise ValueError("combine_repeats needs at least one evaluation")
    if len(results) == 1:
        return dict(results[0])
    out: dict[str, float] = {}
    for name in results[0]:
        values = [float(r[name]) for r in results]
        out[name] = sum(values) / len(values)
        if directions.get(name) in ("min", "max"):
            out[name + SEED_STD] = population_std(values)
    return out


def repeat_directions(directions: Mapping[str, str | None]) -> dict[str, None]:
    """The ``<metric>_seed_std`` entries :func:`combine_repeats` adds (no better side)."""
    return {name + SEED_STD: None for name, d in directions.items() if d in ("min", "max")}


def best_directions(directions: Mapping[str, str | None]) -> dict[str, str]:
    """``best_<metric>`` for every metric with a direction, with the same direction."""
    return {BEST + name: d for name, d in directions.items() if d in ("min", "max")}


class BestTracker:
    """The best value of each metric over a run's evaluations, and the iteration it was reached at.

    Lucic et al. 2018 report the minimum FID over the checkpoints of a run (every 5 epochs); the
    evaluation callback feeds every evaluation here and records ``best_fid`` next to the final
    ``fid``. Ties keep the earlier iteration; non-finite values never become the best.
    """

    def __init__(self) -> None:
        self.best: dict[str, float] = {}
        self.at: dict[str, int] = {}

    def update(
        self, metrics: Mapping[str, float], directions: Mapping[str, str | None], iteration: int
    ) -> dict[str, float]:
        """Take one evaluation into account; returns ``{best_<metric>: value}`` so far."""
        for name, value in metrics.items():
            direction = directions.get(name)
            if direction not in ("min", "max") or not math.isfinite(float(value)):
                continue
            old = self.best.get(name)
            better = old is None or (value < old if direction == "min" else value > old)
            if better:
                self.best[name], self.at[name] = float(value), int(iteration)
        return {BEST + name: value for name, value in self.best.items()}

    def state_dict(self) -> dict[str, Any]:
        return {"best": dict(self.best), "at": dict(self.at)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best = {k: float(v) for k, v in state.get("best", {}).items()}
        self.at = {k: int(v) for k, v in state.get("at", {}).items()}
