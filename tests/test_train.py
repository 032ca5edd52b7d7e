"""End-to-end runs: the run directory contract, every sensible loss × regularizer, plugins and
the quality of the default experiment."""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

PAIRS = [
    (loss, reg) for loss in ("minimax", "nonsaturating", "least_squares", "hinge") for reg in ("none", "gp", "r1")
] + [("wasserstein", "gp"), ("wasserstein", "clip")]

SHORT = ["iterations=20", "eval.every=10", "evaluator.num_samples=500", "checkpoint.every=10", "log_every=5"]


def read_metrics(run_dir: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(open(run_dir / "metrics.csv")))


@pytest.mark.parametrize("loss,reg", PAIRS)
def test_short_run_of_every_loss_and_regularizer(train, loss, reg):
    summary, run_dir = train(f"loss={loss}", f"regularizer={reg}", "dataset=grid", *SHORT)
    assert summary["status"] == "completed"
    assert summary["iterations"] == 20
    assert summary["choices"]["loss"] == loss and summary["choices"]["regularizer"] == reg
    rows = read_metrics(run_dir)
    logged = [r for r in rows if r.get("d_loss")]
    assert [int(float(r["iteration"])) for r in logged] == [1, 5, 10, 15, 20]
    assert all(math.isfinite(float(r["d_loss"])) and math.isfinite(float(r["g_loss"])) for r in logged)
    penalties = [float(r["regularizer"]) for r in logged]
    if reg in ("gp", "r1"):
        assert all(p > 0 for p in penalties)
    else:
        assert all(p == 0 for p in penalties)
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    if reg == "clip":
        d_weights = [v for k, v in ckpt["state_dict"].items() if k.startswith("discriminator.")]
        assert max(v.abs().max().item() for v in d_weights) <= 0.01 + 1e-7
    evals = [r for r in rows if r.get("modes_captured")]
    assert [int(float(r["iteration"])) for r in evals] == [10, 20]


def test_run_directory_contract(train):
    summary, run_dir = train("iterations=30", "eval.every=15", "checkpoint.every=10", "seed=5", "loss=hinge")
    on_disk = json.loads((run_dir / "summary.json").read_text())
    assert on_disk["status"] == "completed"
    assert on_disk["iterations"] == 30 and on_disk["seed"] == 5
    assert on_disk["choices"] == {
        **on_disk["choices"],
        "dataset": "ring",
        "model": "mlp",
        "loss": "hinge",
        "regularizer": "none",
    }
    assert set(on_disk["metrics"]) >= {"modes_captured", "high_quality", "reverse_kl"}
    assert 0 <= on_disk["metrics"]["high_quality"] <= 1
    assert on_disk["wall_seconds"] > 0
    # the final metrics in the summary are the last evaluation logged to metrics.csv
    last_eval = [r for r in read_metrics(run_dir) if r.get("modes_captured")][-1]
    assert int(float(last_eval["iteration"])) == 30
    assert float(last_eval["high_quality"]) == pytest.approx(on_disk["metrics"]["high_quality"])
    # resolved config, plots, checkpoints in iterations
    cfg = OmegaConf.load(run_dir / "config.yaml")
    assert cfg.seed == 5 and cfg.dataset.iterations == 30 and "hydra" not in cfg
    assert sorted(p.name for p in (run_dir / "plots").glob("*.png")) == ["samples_000015.png", "samples_000030.png"]
    assert Path(on_disk["plot"]).name == "samples_000030.png"
    names = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert names == ["iter000010.ckpt", "iter000020.ckpt", "iter000030.ckpt", "last.ckpt"]
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert any(k.startswith("generator_ema.") for k in ckpt["state_dict"])
    assert ckpt["global_step"] == 30 * 2


def test_divergence_is_reported_not_crashed(train):
    summary, run_dir = train(
        "loss=wasserstein",
        "optimizer.discriminator.lr=1e30",
        "optimizer.generator.lr=1e30",
        "iterations=200",
        "log_every=1",
    )
    assert summary["status"] == "diverged"
    assert "non-finite" in summary["reason"]
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "diverged"
    assert summary["iterations"] < 200


def test_user_loss_plugs_in_by_target(train, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "plugins"))
    sys.modules.pop("my_losses", None)
    summary, run_dir = train("loss._target_=my_losses.CountingLoss", *SHORT)
    import my_losses

    assert summary["status"] == "completed"
    # 20 iterations × 1 critic update, 20 generator updates
    assert my_losses.CountingLoss.calls == {"d": 20, "g": 20}


def test_default_experiment_quality(train):
    """The README's default experiment: non-saturating GAN on the ring, seed 0."""
    summary, _ = train()
    m = summary["metrics"]
    assert summary["status"] == "completed"
    assert m["modes_captured"] >= 7, m
    assert m["high_quality"] >= 0.80, m
