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
    assert m == {"modes_captured": 8, "high_quality": 1.0, "reverse_kl": pytest.approx(0.0, abs=1e-12),
                 "mode_tv": pytest.approx(0.0, abs=1e-12)}  # fmt: skip


def test_full_collapse_onto_one_mode():
    x = C[3].repeat(400, 1)
    m = mode_metrics(x, C, SIGMA)
    assert m["modes_captured"] == 1
    assert m["high_quality"] == 1.0
    assert m["reverse_kl"] == pytest.approx(math.log(8))
    assert m["mode_tv"] == pytest.approx(7 / 8)  # 1/2 (|1 - 1/8| + 7 * 1/8)


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
    assert set(ev.evaluate(C)) == set(ev.directions)


def test_mode_tv_of_a_known_mixture_of_on_and_off_mode_samples():
    # 400 samples: 100 high quality on each of modes 0 and 1, 200 at the ring's centre (missed).
    # Outcomes (mode 0, mode 1, modes 2..7, missed) = (1/4, 1/4, 0 ×6, 1/2) against (1/8 ×8, 0):
    # TV = 1/2 (2 · 1/8 + 6 · 1/8 + 1/2) = 3/4.
    x = torch.cat([C[0].repeat(100, 1), C[1].repeat(100, 1), torch.zeros(200, 2)])
    m = mode_metrics(x, C, SIGMA)
    assert m["mode_tv"] == pytest.approx(0.75)
    assert m["mode_tv"] >= 1 - m["high_quality"]


def test_mode_tv_sees_what_reverse_kl_cannot():
    # balanced over the modes but every sample 5σ off its centre: reverse KL is perfect, TV is 1
    out = C + (C / C.norm(dim=1, keepdim=True)) * 5 * SIGMA
    m = mode_metrics(out.repeat_interleave(50, 0), C, SIGMA)
    assert m["reverse_kl"] == pytest.approx(0.0, abs=1e-12)
    assert m["high_quality"] == 0.0 and m["mode_tv"] == pytest.approx(1.0)


def test_nan_samples_count_as_missed_in_mode_tv():
    g = grid_centers()
    x = torch.cat([g.repeat_interleave(4, 0), torch.full((4, 2), float("nan"))])
    # 25 modes at 4/104 each against 1/25, and 4/104 missed
    expected = 0.5 * (25 * abs(4 / 104 - 1 / 25) + 4 / 104)
    assert mode_metrics(x, g, 0.05)["mode_tv"] == pytest.approx(expected)
