"""Image GAN runs end to end on the digits: what a run leaves behind (metrics, sample grids,
checkpoints without extractor weights, the EMA), exact resume of the data stream, and quality."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import torch

from ganbench.config import compose
from ganbench.evaluation.features import save_random_inception_weights
from ganbench.experiment import run
from ganbench.training.image_logging import log_image, read_png

QUIET = ["trainer.enable_progress_bar=false"]
# A small DCGAN on 8×8 digits: seconds per run.
TINY = [
    *QUIET,
    "+experiment=digits",
    "dataset.resolution=8",
    "model.generator.width=8",
    "model.discriminator.width=8",
    "model.generator.latent_dim=16",
    "batch_size=16",
    "log_every=2",
    "evaluator.num_samples=200",
]


def rows(run_dir: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(open(run_dir / "metrics.csv")))


@pytest.fixture(scope="module")
def inception_run(tmp_path_factory) -> Path:
    """6 iterations evaluated at 3 and 6 with the domain classifier and a (random) Inception."""
    tmp = tmp_path_factory.mktemp("inception_run")
    weights = save_random_inception_weights(tmp / "inception.pth")
    run_dir = tmp / "run"
    cfg = compose(
        [
            *TINY,
            "iterations=6",
            "eval.every=3",
            "evaluator.num_samples=4",
            "checkpoint.every=3",
            "ema.decay=0.9",
            "ema.start=2",
            "logger=tensorboard",
            "evaluator.inception=true",
            "evaluator.num_real=4",
            f"evaluator.feature_extractor_weights_path={weights}",
        ]
    )
    summary = run(cfg, run_dir)
    assert summary["status"] == "completed"
    return run_dir


def test_metrics_reach_metrics_csv_and_summary(inception_run):
    evaluated = [r for r in rows(inception_run) if r.get("domain_fid")]
    assert [int(r["iteration"]) for r in evaluated] == [3, 6]
    for r in evaluated:
        for key in ("fid", "kid", "domain_fid", "domain_kid", "classes_covered", "class_kl", "classifier_is"):
            assert r[key] != "", key
    summary = json.loads((inception_run / "summary.json").read_text())
    last = evaluated[-1]
    for key in ("fid", "domain_fid", "classes_covered", "class_kl", "recognised"):
        assert summary["metrics"][key] == pytest.approx(float(last[key]))
    assert 0 <= summary["metrics"]["classes_covered"] <= 10


def test_a_sample_grid_per_evaluation_and_the_last_in_the_summary(inception_run):
    grids = sorted((inception_run / "plots").glob("samples_*.png"))
    assert [p.name for p in grids] == ["samples_000003.png", "samples_000006.png"]
    summary = json.loads((inception_run / "summary.json").read_text())
    assert Path(summary["sample_grid"]) == grids[-1]
    assert read_png(grids[-1]).shape[1] >= 256
    # the grids went to the active TensorBoard logger too (as PNG-encoded image summaries)
    events = b"".join(p.read_bytes() for p in (inception_run / "tensorboard").rglob("events.out.tfevents.*"))
    assert events.count(b"\x89PNG") >= 2 and b"samples" in events


def test_checkpoints_hold_no_extractor_weights(inception_run):
    path = inception_run / "checkpoints" / "last.ckpt"
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    keys = ckpt["state_dict"].keys()
    assert {k.split(".")[0] for k in keys} == {"generator", "discriminator", "generator_ema"}
    n_bytes = sum(v.numel() * v.element_size() for v in ckpt["state_dict"].values())
    # G, D and the EMA copy of G, plus Adam's two moments for G and D: nothing of Inception's 95 MB
    # nor of the domain classifier
    assert path.stat().st_size < 4 * n_bytes + 200_000 < 5_000_000


def test_ema_is_frozen_decays_from_its_start_and_is_saved(inception_run):
    ckpt = torch.load(inception_run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    sd = ckpt["state_dict"]
    ema = {k[len("generator_ema.module.") :]: v for k, v in sd.items() if k.startswith("generator_ema.module.")}
    gen = {k[len("generator.") :]: v for k, v in sd.items() if k.startswith("generator.")}
    assert ema.keys() == gen.keys()
    # decay 0.9 from iteration 2: the EMA lags behind the generator, but follows its buffers exactly
    weights = [k for k in gen if k.endswith("weight") and gen[k].dim() > 1]
    assert any(not torch.equal(ema[k], gen[k]) for k in weights)
    assert all(torch.equal(ema[k], gen[k]) for k in gen if "running" in k)
    # frozen in the module that training builds
    from ganbench.experiment import build

    exp = build(compose([*TINY, "iterations=2"]), inception_run.parent / "build")
    assert not any(p.requires_grad for p in exp.module.generator_ema.parameters())
    assert all(p.requires_grad for p in exp.module.generator.parameters())


def test_log_image_sends_the_png_to_image_loggers(tmp_path):
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    from ganbench.evaluation.grid import save_grid

    path = save_grid(torch.zeros(4, 1, 8, 8), tmp_path / "g.png")
    calls = []

    class WandbLogger:  # recognised by class name, as lightning's
        def log_image(self, **kwargs):
            calls.append(kwargs)

    tb = TensorBoardLogger(str(tmp_path), name="tb")
    sent = []
    original = tb.experiment.add_image
    tb.experiment.add_image = lambda *a, **k: (sent.append((a, k)), original(*a, **k))
    names = log_image([tb, WandbLogger(), CSVLogger(str(tmp_path))], "samples", path, 42)
    assert names == ["TensorBoardLogger"]  # W&B gets its images from WandbImages, once
    (tag, pixels), kwargs = sent[0]
    assert tag == "samples" and kwargs["global_step"] == 42 and (pixels == read_png(path)).all()
    assert calls == []


def test_resume_continues_the_data_stream_exactly(tmp_path):
    args = [*TINY, "iterations=8", "checkpoint.every=4", "eval.every=4", "n_critic=2"]
    full = tmp_path / "full"
    assert run(compose(args), full)["status"] == "completed"
    # the run as a crash between iterations 4 and 8 left it
    crashed = tmp_path / "crashed"
    shutil.copytree(full, crashed)
    shutil.copy(crashed / "checkpoints" / "iter000004.ckpt", crashed / "checkpoints" / "last.ckpt")
    (crashed / "checkpoints" / "iter000008.ckpt").unlink()
    summary = json.loads((crashed / "summary.json").read_text())
    (crashed / "summary.json").write_text(json.dumps({**summary, "status": "running", "metrics": {}}))
    resumed = run(compose([*args, f"resume={crashed}"]), crashed)
    assert resumed["status"] == "completed" and resumed["resumed_from"] == 4
    a, b = (torch.load(d / "checkpoints" / "last.ckpt", weights_only=False) for d in (full, crashed))
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for k in a["state_dict"]:
        assert torch.equal(a["state_dict"][k], b["state_dict"][k]), k
    assert resumed["metrics"] == json.loads((full / "summary.json").read_text())["metrics"]
    # a replayed data stream (restarting at iteration 0) gives different weights: the check has teeth
    replay = tmp_path / "replay"
    shutil.copytree(crashed, replay)
    ckpt = torch.load(full / "checkpoints" / "iter000004.ckpt", weights_only=False)
    state_key = next(k for k in ckpt if k.endswith("DigitsDataModule"))
    ckpt[state_key] = {**ckpt[state_key], "iteration": 0}
    torch.save(ckpt, replay / "checkpoints" / "last.ckpt")
    run(compose([*args, f"resume={replay}"]), replay)
    c = torch.load(replay / "checkpoints" / "last.ckpt", weights_only=False)
    assert not torch.equal(a["state_dict"]["generator.net.0.weight"], c["state_dict"]["generator.net.0.weight"])


def test_digits_quality_nonsaturating_dcgan(tmp_path):
    """Non-saturating loss, small DCGAN, 16×16 digits, 400 iterations (about 45 s on one core).

    Threshold calibration (domain FID of 2,000 samples against the 1,797 real digits, in the digits
    classifier's features): two random halves of the
    real digits 0.31; real digits + N(0, 0.2²) pixel noise 0.16, + N(0, 0.4²) 0.98, + N(0, 0.8²)
    5.5; 3×3 box blur 1.4; uniform noise 30. A run passes below 3.0 (between the 0.4 and 0.8 noise
    levels, ten times the real-vs-real value, a tenth of uniform noise) with all 10 classes
    covered; this run measures 1.78 (10 classes, 31 s wall)."""
    summary = run(compose([*QUIET, "+experiment=digits", "iterations=400", "eval.every=null"]), tmp_path / "run")
    m = summary["metrics"]
    print("digits quality:", {k: round(v, 3) for k, v in m.items()}, f"{summary['wall_seconds']:.0f} s")
    assert summary["status"] == "completed"
    assert m["classes_covered"] == 10, m
    assert m["domain_fid"] < 3.0, m
