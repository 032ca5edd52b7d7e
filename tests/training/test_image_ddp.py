"""Two CPU processes (gloo DDP) on tiny digits: the image evaluator works on the gathered per-rank
samples (features extracted per rank and gathered), giving the metrics of those samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from ganbench import load_run
from ganbench.evaluation.builder import build_evaluator
from helpers import run_ddp

N = 301  # not a multiple of the world size: the last rank's share is padded, then cut


@pytest.fixture(scope="module")
def ddp_digits(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("ddp_digits") / "run"
    args = [
        "accelerator=ddp_cpu", "+experiment=digits", "dataset.resolution=8",
        "model.generator.width=8", "model.discriminator.width=8", "batch_size=16", "iterations=6", "eval.every=3",
        f"evaluator.num_samples={N}", "checkpoint.every=6", "log_every=3", "trainer.enable_progress_bar=false",
        f"hydra.run.dir={run_dir}",
    ]  # fmt: skip
    run_ddp(args, cwd=tmp_path_factory.mktemp("cwd"))
    return run_dir


def test_ddp_image_metrics_are_those_of_the_gathered_samples(ddp_digits):
    summary = json.loads((ddp_digits / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["iterations"] == 6
    assert Path(summary["sample_grid"]).name == "samples_000006.png"
    run = load_run(ddp_digits)  # the EMA generator, in eval mode
    cfg = run.config
    per_rank = -(-N // 2)
    parts = [run.sample(per_rank, seed=cfg.eval.seed + rank) for rank in range(2)]
    samples = torch.cat(parts)[:N]
    expected = build_evaluator(cfg.evaluator, instantiate(cfg.dataset)).evaluate(samples)
    got = summary["metrics"]
    assert got.keys() == expected.keys()
    # features come from per-rank batches of 151 instead of one batch: float32 round-off only
    for k in expected:
        assert got[k] == pytest.approx(expected[k], rel=1e-3, abs=1e-6), k
