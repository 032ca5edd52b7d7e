"""model.compile=true: torch.compile on G and D with manual optimisation, the EMA, a gradient penalty
(double backward: run eagerly), checkpoints with the eager state-dict keys, and resume."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from ganbench.config import compose
from ganbench.experiment import run

BASE = [
    "trainer.enable_progress_bar=false",
    "iterations=6",
    "checkpoint.every=3",
    "eval.every=null",
    "evaluator.num_samples=200",
    "log_every=2",
    "batch_size=32",
    "loss=wasserstein",
    "regularizer=gp",  # ∇ₓD inside the loss: compiled graphs cannot be differentiated twice
    "ema.decay=0.9",
    "model.generator.hidden_dim=16",
    "model.discriminator.hidden_dim=16",
]


def _state(run_dir) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]


@pytest.fixture(scope="module")
def compiled_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("compiled") / "run"
    summary = run(compose([*BASE, "model.compile=true"]), run_dir)
    assert summary["status"] == "completed", summary
    return run_dir


def test_compiled_run_with_a_gradient_penalty_trains_and_saves_eager_keys(compiled_run, tmp_path):
    eager_dir = tmp_path / "eager"
    assert run(compose(BASE), eager_dir)["status"] == "completed"
    compiled, eager = _state(compiled_run), _state(eager_dir)
    assert compiled.keys() == eager.keys()
    assert not any("_orig_mod" in k for k in compiled)
    assert all(torch.isfinite(v).all() for v in compiled.values())
    # the same computation, fused differently: equal up to float rounding after 6 iterations
    for key in eager:
        assert torch.allclose(compiled[key].float(), eager[key].float(), rtol=1e-3, atol=1e-4), key


def test_compiled_run_resumes_exactly(compiled_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(compiled_run, run_dir)
    ckpts = run_dir / "checkpoints"
    shutil.copyfile(ckpts / "iter000003.ckpt", ckpts / "last.ckpt")
    summary = json.loads((run_dir / "summary.json").read_text())
    (run_dir / "summary.json").write_text(json.dumps({**summary, "status": "interrupted"}))
    resumed = run(compose([*BASE, "model.compile=true", f"resume={run_dir}"]), run_dir)
    assert resumed["status"] == "completed" and resumed["resumed_from"] == 3
    a, b = _state(compiled_run), _state(run_dir)
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_channels_last_needs_a_conv_model():
    from ganbench.errors import ConfigError
    from ganbench.validation import validate_config

    with pytest.raises(ConfigError, match="channels_last=true needs a convolutional model"):
        validate_config(compose(["+model.channels_last=true"]))


def test_channels_last_conv_models_train_like_contiguous_ones(tmp_path):
    """A small DCGAN on 8×8 digits: NHWC weights and batches, the same numbers as NCHW (to rounding)."""
    from ganbench.experiment import build

    tiny = [
        "trainer.enable_progress_bar=false",
        "+experiment=digits",
        "dataset.resolution=8",
        "model.generator.width=8",
        "model.discriminator.width=8",
        "model.generator.latent_dim=16",
        "batch_size=16",
        "iterations=4",
        "eval.every=null",
        "evaluator.num_samples=16",
        "checkpoint.every=null",
    ]
    exp = build(compose([*tiny, "model.channels_last=true"]), tmp_path / "probe")
    convs = [m.weight for m in exp.module.discriminator.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    a = run(compose([*tiny, "model.channels_last=true"]), tmp_path / "nhwc")
    b = run(compose(tiny), tmp_path / "nchw")
    assert a["status"] == b["status"] == "completed"
    sa, sb = _state(tmp_path / "nhwc"), _state(tmp_path / "nchw")
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.allclose(sa[key].float(), sb[key].float(), rtol=1e-4, atol=1e-5), key
