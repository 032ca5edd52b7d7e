"""The toy mixtures match the PacGAN definitions and sample reproducibly."""

from __future__ import annotations

import math

import pytest
import torch

from ganbench.data import GridDataModule, RingDataModule


def test_ring_geometry():
    ring = RingDataModule(iterations=10).mixture
    assert ring.num_modes == 8 and ring.sigma == 0.01
    c = ring.centers.double()
    assert c.norm(dim=1).tolist() == pytest.approx([1.0] * 8)
    angles = torch.atan2(c[:, 1], c[:, 0]) % (2 * math.pi)
    assert sorted(angles.tolist()) == pytest.approx([k * math.pi / 4 for k in range(8)], abs=1e-6)


def test_grid_geometry():
    grid = GridDataModule(iterations=10).mixture
    assert grid.num_modes == 25 and grid.sigma == 0.05
    pts = {(round(x), round(y)) for x, y in grid.centers.tolist()}
    assert pts == {(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)}


def test_samples_have_the_right_spread_and_balance():
    ring = RingDataModule(iterations=10).mixture
    g = torch.Generator().manual_seed(0)
    x = ring.sample(80_000, g).double()
    nearest = torch.cdist(x, ring.centers.double()).argmin(1)
    offsets = x - ring.centers.double()[nearest]
    assert offsets.std(0).tolist() == pytest.approx([0.01, 0.01], rel=0.02)
    counts = torch.bincount(nearest, minlength=8).double() / x.shape[0]
    assert counts.tolist() == pytest.approx([1 / 8] * 8, abs=0.006)


def test_sampling_is_seeded():
    grid = GridDataModule(iterations=10).mixture
    a = grid.sample(100, torch.Generator().manual_seed(5))
    b = grid.sample(100, torch.Generator().manual_seed(5))
    c = grid.sample(100, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_log_density_matches_closed_form_at_a_centre():
    ring = RingDataModule(iterations=10).mixture
    x = ring.centers[:1]
    # the other modes are ≥ 0.76 away, i.e. 76σ: their contribution is nil
    expected = -math.log(2 * math.pi * 0.01**2) - math.log(8)
    assert ring.log_density(x).item() == pytest.approx(expected, rel=1e-5)


def test_dataloader_yields_one_item_per_iteration():
    dm = RingDataModule(iterations=37)
    assert len(dm.train_dataloader()) == 37
    assert list(dm.train_dataloader())[:3] == [0, 1, 2]


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="sigma"):
        RingDataModule(iterations=10, sigma=0.0)
    with pytest.raises(ValueError, match="iterations"):
        RingDataModule(iterations=0)
