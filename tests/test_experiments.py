"""The study presets in conf/experiment/: what each sweep runs, and that every run of a study
differs from the others only in what the study compares."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.utils import get_class, instantiate
from omegaconf import OmegaConf

from ganbench.config import compose
from ganbench.paths import conf_dir

ROOT = Path(__file__).resolve().parents[1]
# (variant, loss class, regularizer class) of the toy study: every loss, and its regularizer as a second variant
TOY_VARIANTS = {
    "minimax": ("MinimaxLoss", "NoRegularizer"),
    "minimax_r1": ("MinimaxLoss", "SquaredGradientPenalty"),
    "nonsaturating": ("NonSaturatingLoss", "NoRegularizer"),
    "nonsaturating_r1": ("NonSaturatingLoss", "SquaredGradientPenalty"),
    "least_squares": ("LeastSquaresLoss", "NoRegularizer"),
    "least_squares_r1": ("LeastSquaresLoss", "SquaredGradientPenalty"),
    "hinge": ("HingeLoss", "NoRegularizer"),
    "hinge_r1": ("HingeLoss", "SquaredGradientPenalty"),
    "wasserstein_gp": ("WassersteinLoss", "GradientPenalty"),
}


def sweep_jobs(cfg) -> list[dict[str, str]]:
    """The jobs Hydra's basic sweeper makes of ``hydra.sweeper.params``."""
    parser = OverridesParser.create()
    overrides = parser.parse_overrides([f"{k}={v}" for k, v in cfg.hydra.sweeper.params.items()])
    axes = [[(o.get_key_element(), v) for v in o.sweep_string_iterator()] for o in overrides]
    return [dict(job) for job in itertools.product(*axes)]


def class_name(node) -> str:
    return get_class(node._target_).__name__


def test_toy_study_sweeps_datasets_variants_and_seeds():
    cfg = compose(["+experiment=toy_loss_study"])
    jobs = sweep_jobs(cfg)
    assert len(jobs) == 2 * 9 * 5 == 90
    assert {j["dataset"] for j in jobs} == {"ring", "grid"}
    assert {j["+variant"] for j in jobs} == set(TOY_VARIANTS)
    assert {j["seed"] for j in jobs} == {str(s) for s in range(5)}
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher")
    assert (cfg.iterations, cfg.eval.every, cfg.evaluator.num_samples, cfg.checkpoint.every) == (2000, 500, 2500, None)
    # the sweep directory names say dataset, loss, regularizer and seed
    subdir = OmegaConf.to_container(cfg.hydra.sweep, resolve=False)["subdir"]
    assert "${hydra.runtime.choices.dataset}_${ganbench_objective:loss}_${ganbench_objective:regularizer}" in subdir


@pytest.mark.parametrize("variant", sorted(TOY_VARIANTS))
def test_each_toy_variant_changes_only_loss_and_regularizer(variant):
    base = compose(["+experiment=toy_loss_study", "dataset=grid", "seed=3"])
    cfg = compose(["+experiment=toy_loss_study", "dataset=grid", "seed=3", f"+variant={variant}"])
    assert (class_name(cfg.loss), class_name(cfg.regularizer)) == TOY_VARIANTS[variant]
    differs = sorted(k for k in cfg if k != "hydra" and cfg[k] != base[k])
    assert set(differs) <= {"loss", "regularizer"}


def image_configs_present() -> bool:
    return all((conf_dir() / group / f"{name}.yaml").is_file() for group, name in
               [("dataset", "digits"), ("dataset", "cifar10"), ("model", "dcgan"), ("model", "resnet")])  # fmt: skip


needs_images = pytest.mark.skipif(
    not image_configs_present(), reason="the image datasets and models (dataset=digits|cifar10, model=dcgan|resnet)"
)


@needs_images
def test_digits_study_same_networks_for_every_loss():
    cfg = compose(["+experiment=digits_loss_study"])
    jobs = sweep_jobs(cfg)
    assert len(jobs) == 25 and {j["+variant"] for j in jobs} == {
        "minimax", "nonsaturating", "least_squares", "hinge", "wasserstein_gp"}  # fmt: skip
    assert cfg.model.discriminator.norm == "layer"  # WGAN-GP's penalty refuses batch norm
    assert class_name(cfg.dataset) == "DigitsDataModule" and class_name(cfg.model.generator) == "DCGANGenerator"


@needs_images
def test_cifar10_dcgan_preset_evaluates_on_the_10k_test_images():
    cfg = compose(["+experiment=cifar10_dcgan"])
    assert (cfg.evaluator.num_samples, cfg.evaluator.num_real, cfg.evaluator.split) == (
        10000, 10000, "test")  # fmt: skip
    assert cfg.accelerator.accelerator == "gpu" and class_name(cfg.model.discriminator) == "DCGANDiscriminator"


@needs_images
def test_cifar10_sngan_preset_follows_mimicry():
    cfg = compose(["+experiment=cifar10_sngan"])
    assert (cfg.evaluator.num_samples, cfg.evaluator.num_real, cfg.evaluator.split) == (
        50000, 50000, "train")  # fmt: skip
    assert (cfg.n_critic, cfg.batch_size, class_name(cfg.loss)) == (5, 64, "HingeLoss")
    assert cfg.model.discriminator.spectral_norm is True


def test_linear_decay_of_the_sngan_preset_reaches_zero_at_the_last_iteration():
    """The scheduler node of cifar10_sngan.yaml (read without the image configs), stepped once per
    iteration: lr = 2e-4 · (1 − t/T)."""
    node = OmegaConf.load(conf_dir() / "experiment" / "cifar10_sngan.yaml").optimizer
    node.scheduler.total_iters = 10
    g = node.generator  # merged into conf/optimizer/adam.yaml's Adam
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=g.lr, betas=tuple(g.betas))
    scheduler = instantiate(node.scheduler)(opt)
    lrs = []
    for _ in range(10):
        opt.step()
        scheduler.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs == pytest.approx([2e-4 * (1 - t / 10) for t in range(1, 11)], abs=1e-12)


def test_every_study_has_a_readme_with_its_command():
    for name, study in [("toy_loss_study", "toy_loss_study"), ("digits_loss_study", "digits_loss_study"),
                        ("cifar10_dcgan", "cifar10"), ("cifar10_sngan", "cifar10"),
                        ("cifar10_lucic", "cifar10")]:  # fmt: skip
        readme = (ROOT / "experiments" / study / "README.md").read_text()
        assert f"+experiment={name}" in readme
