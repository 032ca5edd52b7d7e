"""Evaluation never draws from the training RNG streams: a cold and a warm cache of real features
(and of the domain classifier) train identically."""

from __future__ import annotations

import torch

from ganbench.config import compose
from ganbench.evaluation.features import save_random_inception_weights
from ganbench.experiment import run
from ganbench.rng import preserved_rng, rng_state

TINY = [
    "trainer.enable_progress_bar=false", "+experiment=digits", "dataset.resolution=8", "model.generator.width=8",
    "model.discriminator.width=8", "model.generator.latent_dim=16", "batch_size=16", "log_every=2",
    "iterations=8", "eval.every=3", "evaluator.num_samples=16", "checkpoint.every=null",
    "evaluator.inception=true", "evaluator.num_real=40",
]  # fmt: skip


def test_cold_and_warm_caches_give_identical_metrics(tmp_path, monkeypatch):
    weights = save_random_inception_weights(tmp_path / "inception.pth")
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "cache"))  # empty: the first run computes everything
    overrides = [*TINY, f"evaluator.feature_extractor_weights_path={weights}"]
    cold = run(compose(overrides), tmp_path / "cold")
    assert any((tmp_path / "cache").rglob("*.pt"))  # the first run filled the cache
    warm = run(compose(overrides), tmp_path / "warm")
    assert cold["status"] == warm["status"] == "completed"
    assert (tmp_path / "cold" / "metrics.csv").read_text() == (tmp_path / "warm" / "metrics.csv").read_text()
    assert cold["metrics"] == warm["metrics"]


def test_preserved_rng_restores_every_stream():
    import random

    import numpy as np

    before = rng_state()
    expected = (torch.rand(3), np.random.rand(3), random.random())
    from ganbench.rng import set_rng_state

    set_rng_state(before)
    with preserved_rng():
        torch.rand(100), np.random.rand(100), random.random()
    got = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(got[0], expected[0]) and np.array_equal(got[1], expected[1]) and got[2] == expected[2]
