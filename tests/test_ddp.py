"""Two CPU processes (gloo DDP) on the ring with a gradient penalty and a PacGAN-packed critic: one
run directory, one summary, and evaluation metrics equal to those computed from the gathered
per-rank samples."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from ganbench import load_run
from ganbench.evaluation.builder import build_evaluator
from ganbench.evaluation.toy import mode_metrics
from helpers import assert_same_state, checkpoint_state, run_ddp

N = 500


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("ddp") / "run"
    args = [
        "accelerator=ddp_cpu", "regularizer=gp", "loss=wasserstein",
        "iterations=30", "eval.every=15", f"evaluator.num_samples={N}", "checkpoint.every=10", "log_every=5",
        "batch_size=64", "model.discriminator.packing=2", "trainer.enable_progress_bar=false",
        f"hydra.run.dir={run_dir}",
    ]  # fmt: skip
    output = run_ddp(args, cwd=tmp_path_factory.mktemp("cwd"))
    assert output.count("ganbench: run completed") == 1  # rank 0 reports, once
    return run_dir


def test_one_summary_one_set_of_outputs(ddp_run):
    summary = json.loads((ddp_run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["iterations"] == 30
    ckpt = torch.load(ddp_run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["global_step"] == 60
    rows = list(csv.DictReader(open(ddp_run / "metrics.csv")))
    logged = [int(r["step"]) for r in rows if r.get("d_loss")]
    assert logged == [1, 5, 10, 15, 20, 25, 30]  # each iteration logged once, by rank 0 only
    assert sorted(p.name for p in (ddp_run / "plots").iterdir()) == ["samples_000015.png", "samples_000030.png"]


def test_metrics_equal_those_of_the_gathered_samples(ddp_run):
    run = load_run(ddp_run)  # the EMA generator, in eval mode
    cfg = run.config
    per_rank = N // 2
    parts = [run.sample(per_rank, seed=cfg.eval.seed + rank) for rank in (0, 1)]
    samples = torch.cat(parts)
    dm = instantiate(cfg.dataset)
    expected = mode_metrics(samples, dm.mixture.centers, dm.mixture.sigma)
    got = json.loads((ddp_run / "summary.json").read_text())["metrics"]
    assert got["modes_captured"] == expected["modes_captured"]
    assert got["high_quality"] == pytest.approx(expected["high_quality"], abs=1e-12)
    assert got["reverse_kl"] == pytest.approx(expected["reverse_kl"], rel=1e-6)
    # precision, recall, density, coverage: computed once, on the gathered samples
    prdc = build_evaluator(cfg.evaluator, dm).evaluate(samples)
    for key in ("precision", "recall", "density", "coverage"):
        assert got[key] == pytest.approx(prdc[key], abs=1e-12), key
    # the two ranks drew different samples (per-rank seeds), not one sample set twice
    assert not torch.allclose(parts[0], parts[1])


def test_every_ranks_streams_are_in_the_checkpoint(ddp_run):
    ckpt = torch.load(ddp_run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    ranks = ckpt["ganbench"]["ranks"]
    assert len(ranks) == 2
    assert torch.equal(ranks[0]["rng"]["torch"], ckpt["ganbench"]["rng"]["torch"])  # rank 0's, as before
    assert not torch.equal(ranks[0]["rng"]["torch"], ranks[1]["rng"]["torch"])
    assert ranks[0]["real_sampler"]["seed"] != ranks[1]["real_sampler"]["seed"]


def test_resume_from_a_periodic_checkpoint_is_bit_exact(ddp_run, tmp_path):
    """Both ranks continue their own random streams from iteration 10, so the resumed run ends
    exactly as the uninterrupted one (before, the streams were derived again at the resume point)."""
    run_dir = tmp_path / "run"
    shutil.copytree(ddp_run, run_dir)
    (run_dir / "summary.json").unlink()  # as a run stopped at its iteration-10 checkpoint
    shutil.copyfile(run_dir / "checkpoints" / "iter000010.ckpt", run_dir / "checkpoints" / "last.ckpt")
    output = run_ddp([f"resume={run_dir}"], cwd=tmp_path)
    assert f"Restored all states from the checkpoint at {run_dir}/checkpoints/last.ckpt" in output
    assert_same_state(checkpoint_state(run_dir), checkpoint_state(ddp_run))
    assert list(csv.DictReader(open(run_dir / "metrics.csv"))) == list(csv.DictReader(open(ddp_run / "metrics.csv")))
