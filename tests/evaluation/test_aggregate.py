"""Repeated evaluations (mean, <metric>_seed_std) and the best value over a run's evaluations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ganbench.evaluation.aggregate import BestTracker, best_directions, combine_repeats, population_std

DIRECTIONS = {"fid": "min", "kid": "min", "kid_std": None, "is": "max", "is_std": None}


def test_combine_repeats_mean_and_population_std():
    runs = [
        {"fid": 10.0, "kid": 0.01, "kid_std": 0.001, "is": 7.0, "is_std": 0.1},
        {"fid": 12.0, "kid": 0.03, "kid_std": 0.003, "is": 8.0, "is_std": 0.2},
        {"fid": 17.0, "kid": 0.02, "kid_std": 0.002, "is": 9.0, "is_std": 0.3},
    ]
    out = combine_repeats(runs, DIRECTIONS)
    assert out["fid"] == pytest.approx(13.0)
    # np.std (ddof = 0), what Mimicry reports: sqrt(((10-13)² + (12-13)² + (17-13)²)/3) = sqrt(26/3)
    assert out["fid_seed_std"] == pytest.approx(math.sqrt(26 / 3)) == pytest.approx(np.std([10, 12, 17]))
    assert out["is_seed_std"] == pytest.approx(np.std([7, 8, 9]))
    assert out["kid_std"] == pytest.approx(0.002)  # a spread of an estimate: averaged, no seed std of its own
    assert "kid_std_seed_std" not in out and "is_std_seed_std" not in out
    assert combine_repeats(runs[:1], DIRECTIONS) == runs[0]  # one draw: unchanged, no _seed_std keys
    assert math.isnan(population_std([1.0, math.inf]))
    with pytest.raises(ValueError):
        combine_repeats([], DIRECTIONS)


def test_best_tracker_follows_each_metrics_direction():
    best = BestTracker()
    evals = [
        (5, {"fid": 40.0, "is": 5.0, "kid_std": 9.0}),
        (10, {"fid": 31.0, "is": 4.0, "kid_std": 1.0}),
        (15, {"fid": math.nan, "is": 6.0, "kid_std": 0.5}),
        (20, {"fid": 33.0, "is": 6.0, "kid_std": 0.1}),
    ]
    for it, metrics in evals:
        out = best.update(metrics, DIRECTIONS, it)
    assert out == {"best_fid": 31.0, "best_is": 6.0}  # min FID, max IS; NaN never wins; no best_kid_std
    assert best.at == {"fid": 10, "is": 15}  # a tie keeps the earlier iteration
    again = BestTracker()
    again.load_state_dict(best.state_dict())
    assert again.update({"fid": 35.0}, DIRECTIONS, 25) == {"best_fid": 31.0, "best_is": 6.0}
    assert best_directions(DIRECTIONS) == {"best_fid": "min", "best_kid": "min", "best_is": "max"}
