"""PacGAN mode metrics on hand-built sample sets whose answers are known."""

from __future__ import annotations

import math

import pytest
import torch

from ganbench.data.toy import grid_centers, ring_centers
from ganbench.evaluation.toy import ToyEvaluator, mode_metrics

SIGMA = 0.01
C = ring_centers()


def test_perfect_samples():
    x = C.repeat_interleave(100, 0)
    m = mode_metrics(x, C, SIGMA)
    assert m == {"modes_captured": 8, "high_quality": 1.0, "reverse_kl": pytest.approx(0.0, abs=1e-12)}


def test_full_collapse_onto_one_mode():
    x = C[3].repeat(400, 1)
    m = mode_metrics(x, C, SIGMA)
    assert m["modes_captured"] == 1
    assert m["high_quality"] == 1.0
    assert m["reverse_kl"] == pytest.approx(math.log(8))


def test_high_quality_threshold_is_three_sigma():
    inside = C[0] + torch.tensor([2.9 * SIGMA, 0.0])
    outside = C[1] + torch.tensor([0.0, 3.1 * SIGMA])
    m = mode_metrics(torch.stack([inside, outside]), C, SIGMA)
    assert m["high_quality"] == 0.5
    # mode 1's only sample is low quality, so mode 1 is not captured
    assert m["modes_captured"] == 1


def test_reverse_kl_of_known_histogram():
    # half the samples on mode 0, the other half spread on modes 1 and 2: q = (1/2, 1/4, 1/4)
    x = torch.cat([C[0].repeat(200, 1), C[1].repeat(100, 1), C[2].repeat(100, 1)])
    q = [0.5, 0.25, 0.25]
    expected = sum(p * math.log(p * 8) for p in q)
    assert mode_metrics(x, C, SIGMA)["reverse_kl"] == pytest.approx(expected)


def test_low_quality_samples_count_in_the_histogram_but_capture_nothing():
    far = torch.zeros(10, 2)  # the ring's centre: 1.0 from every mode
    m = mode_metrics(far, C, SIGMA)
    assert m["modes_captured"] == 0 and m["high_quality"] == 0.0


def test_grid_and_nan_samples():
    g = grid_centers()
    x = torch.cat([g.repeat_interleave(4, 0), torch.full((4, 2), float("nan"))])
    m = mode_metrics(x, g, 0.05)
    assert m["modes_captured"] == 25
    assert m["high_quality"] == pytest.approx(100 / 104)


def test_evaluator_plot_writes_png(tmp_path):
    ev = ToyEvaluator(C, SIGMA, num_samples=10)
    path = ev.plot(C.repeat(3, 1), tmp_path / "plots" / "s.png", "title")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert ev.info() == {"num_modes": 8}
    assert set(ev.metrics(C)) == set(ev.directions)
