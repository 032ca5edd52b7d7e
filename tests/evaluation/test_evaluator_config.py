"""The evaluator config group (conf/evaluator/): each dataset's default evaluator, overrides that
reach the built evaluator, metric selection by ``evaluator.metrics``, the moved ``eval.*`` keys, and
no import of ganbench.evaluation from ganbench.data."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra.errors import ConfigCompositionException
from hydra.utils import instantiate

from ganbench.composition_errors import composition_problem
from ganbench.config import compose
from ganbench.errors import ConfigError
from ganbench.evaluation.builder import build_evaluator
from ganbench.evaluation.images import ImageEvaluator
from ganbench.evaluation.toy import ToyEvaluator, mode_metrics
from ganbench.validation import validate_config

ROOT = Path(__file__).resolve().parents[2]

# The evaluation settings the image datasets carried in dataset.evaluation before the evaluator
# config group existed (a record of them, typed here, not read from the configs under test).
OLD_COMMON = dict(split=None, grid_size=64, batch_size=250, kid=True, kid_subsets=100, kid_subset_size=1000,
                  prdc=True, feature_extractor_weights_path=None, antialias=False, cache_dir=None)  # fmt: skip
OLD_SETTINGS = {
    "digits": dict(OLD_COMMON, num_samples=2000, num_real=None, domain=True, inception=False, inception_score=False),
    "cifar10": dict(OLD_COMMON, num_samples=10000, num_real=10000, inception=True, inception_score=True, domain=False),
    "mnist": dict(OLD_COMMON, num_samples=10000, num_real=10000, inception=True, inception_score=False, domain=False),
    "fashion_mnist": dict(
        OLD_COMMON, num_samples=10000, num_real=10000, inception=True, inception_score=False, domain=False
    ),  # fmt: skip
    "celeba": dict(OLD_COMMON, num_samples=10000, num_real=10000, inception=True, inception_score=False, domain=False),
    "folder": dict(OLD_COMMON, num_samples=10000, num_real=10000, inception=True, inception_score=False, domain=False),
}


@pytest.mark.parametrize("dataset", sorted(OLD_SETTINGS))
def test_each_image_dataset_gets_its_former_evaluation_settings(dataset):
    cfg = compose([f"dataset={dataset}"])
    assert cfg.evaluator._target_ == "ganbench.evaluation.images.ImageEvaluator"
    got = {k: cfg.evaluator[k] for k in OLD_SETTINGS[dataset]}
    assert got == OLD_SETTINGS[dataset]
    assert "evaluation" not in cfg.dataset  # the dataset holds data settings only


@pytest.mark.parametrize("dataset", ["ring", "grid"])
def test_toy_datasets_get_the_toy_evaluator_with_pacgans_sample_count(dataset):
    cfg = compose([f"dataset={dataset}"])
    assert cfg.evaluator._target_ == "ganbench.evaluation.toy.ToyEvaluator"
    assert cfg.evaluator.num_samples == 2500 and cfg.evaluator.metrics is None


def test_an_experiment_keeps_its_datasets_evaluator_and_the_command_line_wins():
    assert compose(["+experiment=digits"]).hydra.runtime.choices.evaluator == "domain"
    assert compose(["+experiment=cifar10_lucic"]).evaluator.inception_score is True
    cfg = compose(["+experiment=digits", "evaluator=images"])
    assert (cfg.evaluator.inception, cfg.evaluator.domain) == (True, False)


def test_the_built_toy_evaluator_has_the_datasets_modes_and_the_overridden_sample_count(tmp_path):
    from ganbench.experiment import build

    cfg = compose(["dataset=ring", "dataset.num_modes=6", "dataset.radius=2.0", "evaluator.num_samples=37",
                   "trainer.enable_progress_bar=false"])  # fmt: skip
    evaluator = build(cfg, tmp_path / "run").evaluation.evaluator
    assert isinstance(evaluator, ToyEvaluator) and evaluator.num_samples == 37
    angles = torch.arange(6, dtype=torch.float64) * 2 * math.pi / 6
    expected = 2.0 * torch.stack([angles.cos(), angles.sin()], dim=1)
    assert torch.allclose(evaluator.centers.double(), expected, atol=1e-6)
    assert evaluator.sigma == pytest.approx(0.01)


def test_the_digits_run_evaluates_with_the_domain_classifier_and_the_overridden_count(tmp_path):
    from ganbench.experiment import build

    cfg = compose(["+experiment=digits", "evaluator.num_samples=123", "trainer.enable_progress_bar=false"])
    evaluator = build(cfg, tmp_path / "run").evaluation.evaluator
    assert isinstance(evaluator, ImageEvaluator) and evaluator.num_samples == 123
    assert list(evaluator.extractors) == ["domain"]
    assert next(iter(evaluator.directions)) == "domain_fid"
    assert {"domain_fid", "domain_kid", "classes_covered", "class_kl", "classifier_is"} <= set(evaluator.directions)


# ------------------------------------------------------------------ metric selection
RING = torch.stack([torch.tensor([math.cos(a), math.sin(a)]) for a in torch.arange(8) * 2 * math.pi / 8]).float()


def test_toy_metrics_selects_what_is_reported_in_its_order(monkeypatch):
    x = torch.cat([RING[:3].repeat(20, 1), 1.2 * RING[:1].repeat(10, 1)])  # 10 off-mode, nearest mode 0
    evaluator = ToyEvaluator(RING, 0.01, num_samples=70, metrics=["reverse_kl", "modes_captured"])
    assert list(evaluator.directions) == ["reverse_kl", "modes_captured"]
    import ganbench.evaluation.toy as toy

    monkeypatch.setattr(toy, "PRDC", None)  # PRDC is not selected, so it is never built
    got = evaluator.evaluate(x)
    expected = mode_metrics(x, RING, 0.01)
    assert list(got) == ["reverse_kl", "modes_captured"]
    assert got == {"reverse_kl": expected["reverse_kl"], "modes_captured": 3}
    # histogram over the 8 modes: 30, 20, 20 of 70 (the off-mode samples count for mode 0), 0 elsewhere
    q = torch.tensor([30 / 70, 20 / 70, 20 / 70], dtype=torch.float64)
    assert got["reverse_kl"] == pytest.approx(float((q * (q * 8).log()).sum()), rel=1e-9)


def test_an_unknown_metric_is_a_config_error_listing_the_valid_ones():
    with pytest.raises(ConfigError) as err:
        validate_config(compose(["evaluator.metrics=[fid,modes_captured]"]))
    message = str(err.value)
    assert "\n" not in message and "fid" in message
    assert "valid: modes_captured, high_quality, reverse_kl, mode_tv, precision, recall, density, coverage" in message
    with pytest.raises(ConfigError, match="valid: domain_fid"):
        validate_config(compose(["+experiment=digits", "evaluator.metrics=[fid]"]))  # Inception is off for digits
    validate_config(compose(["+experiment=digits", "evaluator.metrics=[domain_fid,classes_covered]"]))


def test_image_metrics_select_the_extractors_that_are_built(ganbench_cache, tmp_path):
    # Inception is on but none of its metrics is selected: its (missing) weights are never loaded
    inception_too = ["+experiment=digits", "evaluator.inception=true", "evaluator.num_samples=64",
                     f"evaluator.feature_extractor_weights_path={tmp_path / 'missing.pth'}"]  # fmt: skip
    cfg = compose([*inception_too, "evaluator.metrics=[domain_fid,classes_covered]"])
    validate_config(cfg)
    dm = instantiate(cfg.dataset)
    chosen = build_evaluator(cfg.evaluator, dm)
    assert list(chosen.extractors) == ["domain"] and not chosen.kid and not chosen.prdc
    full = build_evaluator(compose(["+experiment=digits", "evaluator.num_samples=64"]).evaluator, dm)
    samples = torch.rand(64, 1, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    got, everything = chosen.evaluate(samples), full.evaluate(samples)
    assert list(got) == ["domain_fid", "classes_covered"]
    assert got == {k: everything[k] for k in got}
    # and without the selection, the missing weights file is refused when the evaluator is built
    with pytest.raises(Exception, match="missing.pth"):
        build_evaluator(compose(inception_too).evaluator, dm)


# ------------------------------------------------------------------ moved keys and mismatches
@pytest.mark.parametrize("key", ["num_samples", "metrics"])
def test_the_eval_keys_that_belong_to_the_evaluator_name_it(key):
    with pytest.raises(ConfigCompositionException) as err:
        compose([f"eval.{key}=[1]" if key == "metrics" else f"eval.{key}=100"])
    assert composition_problem(err.value) == (
        f"eval.{key} is not a setting; did you mean evaluator.{key}=…? "
        "eval has: background_plots, best, every, repeats, seed"
    )


def test_an_evaluator_for_the_other_kind_of_data_is_refused():
    with pytest.raises(ConfigError, match="use evaluator=toy"):
        validate_config(compose(["dataset=ring", "evaluator=images"]))
    with pytest.raises(ConfigError, match="use evaluator=images"):
        validate_config(compose(["dataset=digits", "model=dcgan", "evaluator=toy"]))


# ------------------------------------------------------------------ no import cycle
def test_ganbench_data_imports_nothing_from_ganbench_evaluation():
    code = (
        "import sys, ganbench.data, ganbench.data.toy, ganbench.data.images, ganbench.data.digits;"
        "print(sorted(m for m in sys.modules if m.startswith('ganbench.evaluation')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
