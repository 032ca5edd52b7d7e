"""eval.repeats and eval.best in a real run: the summary's metrics are the mean and population std
of the metrics of independently drawn sample sets (seeds eval.seed + r), and best_<metric> is the
best value of metrics.csv's evaluation rows."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from ganbench.evaluation.toy import mode_metrics


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from ganbench.config import compose
    from ganbench.experiment import run as run_experiment

    run_dir = tmp_path_factory.mktemp("repeats") / "run"
    cfg = compose(["trainer.enable_progress_bar=false", "dataset=grid", "iterations=300", "eval.every=100",
                   "evaluator.num_samples=500", "eval.repeats=3", "eval.best=true", "checkpoint.every=300",
                   "log_every=100"])  # fmt: skip
    return run_experiment(cfg, run_dir), run_dir


def test_metrics_are_mean_and_std_over_three_seeds(run):
    summary, run_dir = run
    cfg = OmegaConf.load(run_dir / "config.yaml")
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    g = instantiate(cfg.model.generator)
    prefix = "generator_ema.module."
    g.load_state_dict({k[len(prefix) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)})
    g.eval()
    dm = instantiate(cfg.dataset)
    per_seed = []
    for r in range(3):
        z = torch.randn(500, g.latent_dim, generator=torch.Generator().manual_seed(cfg.eval.seed + r))
        with torch.no_grad():
            per_seed.append(mode_metrics(g(z), dm.mixture.centers, dm.mixture.sigma))
    m = summary["metrics"]
    for name in ("modes_captured", "high_quality", "reverse_kl"):
        values = [p[name] for p in per_seed]
        assert m[name] == pytest.approx(np.mean(values), rel=1e-9, abs=1e-12), name
        assert m[name + "_seed_std"] == pytest.approx(np.std(values), rel=1e-6, abs=1e-12), name
    assert len({p["reverse_kl"] for p in per_seed}) == 3  # three different sample sets
    assert summary["directions"]["reverse_kl_seed_std"] is None
    assert summary["directions"]["best_reverse_kl"] == "min"


def test_best_is_the_best_evaluation_row(run):
    summary, run_dir = run
    rows = [r for r in csv.DictReader(open(run_dir / "metrics.csv")) if r.get("reverse_kl")]
    assert [int(r["iteration"]) for r in rows] == [100, 200, 300]
    kl = [float(r["reverse_kl"]) for r in rows]
    hq = [float(r["high_quality"]) for r in rows]
    assert len(set(hq)) > 1 and len(set(kl)) == 3  # the rows differ, so min and max are distinguishable
    m = summary["metrics"]
    assert m["best_reverse_kl"] == pytest.approx(min(kl)) and m["best_high_quality"] == pytest.approx(max(hq))
    assert summary["best_at"]["reverse_kl"] == [100, 200, 300][int(np.argmin(kl))]
    assert summary["best_at"]["high_quality"] == [100, 200, 300][int(np.argmax(hq))]
    # the running best is logged at every evaluation
    running = [float(r["best_reverse_kl"]) for r in rows]
    assert running == pytest.approx(np.minimum.accumulate(kl).tolist())
    saved = json.loads((run_dir / "summary.json").read_text())
    assert saved["metrics"]["best_reverse_kl"] == m["best_reverse_kl"] and not math.isnan(m["reverse_kl_seed_std"])


def test_best_values_are_kept_in_the_checkpoint_for_resuming(run):
    summary, run_dir = run
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    # the evaluation callback runs inside the merged IterationEvents callback, first of its list
    (events,) = [v for k, v in ckpt["callbacks"].items() if "IterationEvents" in k]
    state = events["0"]
    assert state["best"]["best"]["reverse_kl"] == summary["metrics"]["best_reverse_kl"]
    assert state["best"]["at"] == summary["best_at"]
    from ganbench.training.callbacks import EvaluationCallback

    restored = EvaluationCallback(None, 100, run_dir, track_best=True)
    restored.load_state_dict(state)
    assert restored.best_at == summary["best_at"]


def test_compare_reports_the_seed_spread_and_the_best_values(run, tmp_path):
    from ganbench.compare import compare

    summary, run_dir = run
    result = compare([run_dir], ["loss"], tmp_path / "cmp", False)
    header = result.table.splitlines()[0]
    for column in ("reverse_kl ↓", "reverse_kl_seed_std", "best_reverse_kl ↓", "best_high_quality ↑"):
        assert column in header, column
    stats = result.stats[0].metrics
    assert stats["reverse_kl_seed_std"].mean == pytest.approx(summary["metrics"]["reverse_kl_seed_std"])
