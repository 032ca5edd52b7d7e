"""Typos, wrong types and impossible combinations fail before any work, naming the key."""

from __future__ import annotations

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ValidationError

from ganbench.config import compose
from ganbench.errors import ConfigError
from ganbench.experiment import run
from ganbench.validation import validate_config


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
        ("batch_size=0", "batch_size must be >= 1"),
        ("log_every=0", "log_every must be >= 1"),
        ("iterations_per_step=0", "iterations_per_step must be >= 1"),
        ("grad_clip=0", "grad_clip must be > 0 or null"),
        ("ema.decay=1.0", "ema.decay must be in [0, 1)"),
        ("ema.start=-1", "ema.start must be >= 0"),
    ],
)
def test_a_setting_out_of_range_is_refused_by_its_constructor_before_anything_is_written(tmp_path, override, needle):
    cfg = compose([override])
    validate_config(cfg)  # one group's range is its constructor's to check, once
    with pytest.raises(ConfigError) as err:
        run(cfg, tmp_path / "run")
    message = str(err.value)
    assert needle in message and "\n" not in message
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "override,needle",
    [
        ("eval.every=0", "eval.every must be >= 1 or null"),
        ("optimizer.generator.lr=0", "optimizer.generator.lr must be a finite number > 0"),
        ("optimizer.discriminator.lr=-1e-4", "optimizer.discriminator.lr must be a finite number > 0"),
        ("accelerator=gpu", "CUDA GPU(s)"),
        ("evaluator.metrics=[fid]", "valid: modes_captured"),
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


def test_all_problems_are_listed_at_once(tmp_path):
    with pytest.raises(ConfigError) as err:
        validate_config(compose(["n_critic=0", "optimizer.generator.lr=0", "eval.every=0"]))
    assert "optimizer.generator.lr" in str(err.value) and "eval.every" in str(err.value)
    with pytest.raises(ConfigError) as err:  # the module's settings, all at once too
        run(compose(["n_critic=0", "batch_size=0", "grad_clip=-1"]), tmp_path / "run")
    assert all(key in str(err.value) for key in ("n_critic", "batch_size", "grad_clip"))


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


def test_validate_config_builds_nothing_and_a_run_builds_each_network_once(monkeypatch, tmp_path):
    """The gradient-penalty/BatchNorm check runs once, in build(): validate_config instantiates no
    discriminator or regularizer of its own."""
    from ganbench.models import MLPDiscriminator
    from ganbench.regularizers import GradientPenalty

    built: list[str] = []
    for cls in (MLPDiscriminator, GradientPenalty):
        original = cls.__init__

        def counting(self, *args, _original=original, _name=cls.__name__, **kwargs):
            built.append(_name)
            _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__init__", counting)
    cfg = compose(["regularizer=gp", "loss=wasserstein", "iterations=2", "eval.every=null", "evaluator.num_samples=50",
                   "checkpoint.every=null", "trainer.enable_progress_bar=false"])  # fmt: skip
    validate_config(cfg)
    assert built == []
    summary = run(cfg, tmp_path / "run")
    assert summary["status"] == "completed"
    assert sorted(built) == ["GradientPenalty", "MLPDiscriminator"]


def test_a_count_out_of_range_reads_the_same_whichever_constructor_refuses_it(tmp_path):
    """On image data the datamodule (built before GANModule) takes n_critic and batch_size too."""
    with pytest.raises(ConfigError) as err:
        run(compose(["dataset=digits", "model=dcgan", "n_critic=0", "batch_size=0"]), tmp_path / "run")
    message = str(err.value)
    assert "DigitsDataModule" in message  # the datamodule refused first ...
    assert "n_critic must be >= 1 (discriminator updates per iteration), got 0; set e.g. n_critic=1" in message
    assert "batch_size must be >= 1" in message  # ... with GANModule's words, all problems at once
    assert not (tmp_path / "run").exists()
