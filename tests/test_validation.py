"""Typos, wrong types and impossible combinations fail before any work, naming the key."""

from __future__ import annotations

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ValidationError

from ganbench.config import compose
from ganbench.experiment import run
from ganbench.validation import ConfigError, validate_config


def test_typo_in_a_root_key_is_refused_at_compose_time():
    with pytest.raises(ConfigCompositionException) as err:
        compose(["iteratons=5"])
    assert "iteratons" in str(err.value.__cause__ or err.value)


def test_wrong_type_names_the_key():
    with pytest.raises((ValidationError, ConfigCompositionException)) as err:
        compose(["iterations=abc"])
    text = str(err.value) + str(err.value.__cause__)
    assert "iterations" in text and "abc" in text


@pytest.mark.parametrize(
    "override,needle",
    [
        ("n_critic=0", "n_critic must be >= 1"),
        ("optimizer.generator.lr=0", "optimizer.generator.lr must be > 0"),
        ("optimizer.discriminator.lr=-1e-4", "optimizer.discriminator.lr must be > 0"),
        ("iterations=0", "iterations must be >= 1"),
        ("ema.decay=1.0", "ema.decay must be in [0, 1)"),
        ("eval.every=0", "eval.every must be >= 1 or null"),
        ("accelerator=gpu", "CUDA GPU(s)"),
        ("evaluator.metrics=[fid]", "valid: modes_captured"),
        ("eval.num_samples=100", "use evaluator.num_samples="),
    ],
)
def test_impossible_settings_are_refused_with_the_fix(override, needle):
    if override == "accelerator=gpu":
        import torch

        if torch.cuda.is_available():
            override = f"accelerator.devices={torch.cuda.device_count() + 1}"
    with pytest.raises(ConfigError) as err:
        validate_config(compose([override]))
    assert needle in str(err.value)


def test_all_problems_are_listed_at_once():
    with pytest.raises(ConfigError) as err:
        validate_config(compose(["n_critic=0", "optimizer.generator.lr=0"]))
    assert "n_critic" in str(err.value) and "optimizer.generator.lr" in str(err.value)


def test_gradient_penalty_with_float16_is_refused():
    with pytest.raises(ConfigError, match="bf16-mixed"):
        validate_config(compose(["regularizer=gp", "accelerator.precision=16-mixed"]))
    validate_config(compose(["regularizer=gp", "accelerator.precision=bf16-mixed"]))  # fine
    validate_config(compose(["regularizer=clip", "accelerator.precision=16-mixed"]))  # no input gradient


def test_unconstrained_wasserstein_warns():
    with pytest.warns(UserWarning, match="Lipschitz"):
        validate_config(compose(["loss=wasserstein"]))


def test_run_refuses_before_writing_anything(tmp_path):
    with pytest.raises(ConfigError):
        run(compose(["n_critic=0"]), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_multirun_with_subprocess_ddp_is_refused(monkeypatch):
    from ganbench.train import refuse_duplicate_sweeps

    monkeypatch.delenv("SLURM_NTASKS", raising=False)
    with pytest.raises(ConfigError, match="duplicate sweep"):
        refuse_duplicate_sweeps(compose(["accelerator=ddp_cpu"]))
    refuse_duplicate_sweeps(compose(["accelerator=ddp_cpu", "accelerator.strategy=ddp_spawn"]))
    refuse_duplicate_sweeps(compose(["accelerator=cpu"]))
    monkeypatch.setenv("SLURM_NTASKS", "8")  # ranks launched by SLURM do not re-run the command
    refuse_duplicate_sweeps(compose(["accelerator=multinode"]))


@pytest.mark.parametrize("reg", ["none", "gp", "r1", "clip"])
def test_bf16_mixed_works_with_every_regularizer(train, reg):
    loss = "wasserstein" if reg in ("gp", "clip") else "nonsaturating"
    summary, run_dir = train(
        f"regularizer={reg}",
        f"loss={loss}",
        "accelerator.precision=bf16-mixed",
        "iterations=15",
        "log_every=5",
        "evaluator.num_samples=200",
    )
    assert summary["status"] == "completed" and summary["iterations"] == 15
    import csv

    rows = [r for r in csv.DictReader(open(run_dir / "metrics.csv")) if r.get("d_loss")]
    penalties = [float(r["regularizer"]) for r in rows]
    assert all(p > 0 for p in penalties) if reg in ("gp", "r1") else all(p == 0 for p in penalties)


def test_image_model_on_toy_data_is_refused_with_the_fix(tmp_path):
    with pytest.raises(ConfigError, match=r"need an image dataset: dataset=digits.*use model=mlp") as err:
        run(compose(["model=dcgan"]), tmp_path / "run")
    assert "dataset.channels" in str(err.value) and "RingDataModule" in str(err.value)
    assert not (tmp_path / "run").exists()


def test_gradient_penalty_on_a_batchnorm_critic_is_refused_before_anything_is_written(tmp_path):
    cfg = compose(["dataset=digits", "model=dcgan", "regularizer=gp", "loss=wasserstein"])
    with pytest.raises(ConfigError, match=r"BatchNorm.*model.discriminator.norm=layer"):
        run(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()
    # the same critic without batch statistics is accepted
    validate_config(compose(["dataset=digits", "model=dcgan", "regularizer=gp", "model.discriminator.norm=layer"]))
