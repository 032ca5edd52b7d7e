"""conf/hparams_search/: every search space composes, states Lucic et al.'s ranges, gives every loss
the same penalty choice (Kurach et al. 2019), and the values it samples reach the optimisers, the
schedule and the penalty."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate
from hydra_plugins.hydra_optuna_sweeper._impl import create_params_from_overrides
from optuna.distributions import CategoricalDistribution, LogUniformDistribution, UniformDistribution

from ganbench.config import choices, compose
from ganbench.identity import objective
from ganbench.paths import conf_dir
from ganbench.regularizers import (
    GradientPenalty,
    NoRegularizer,
    OneSidedGradientPenalty,
    SquaredGradientPenalty,
    WeightClipping,
)
from ganbench.search_space import KINDS, penalty_overrides, searched_penalty

FILES = sorted(p.stem for p in (conf_dir() / "hparams_search").glob("*.yaml"))
LOSS = {
    "sigmoid": "NonSaturatingLoss",
    "least_squares": "LeastSquaresLoss",
    "hinge": "HingeLoss",
    "wasserstein": "WassersteinLoss",
}
# the penalty choice of every loss family; the Wasserstein loss needs a constraint on D
PENALTIES = {"sigmoid": ["none", "gp", "r1"], "least_squares": ["none", "gp", "r1"], "hinge": ["none", "gp", "r1"],
             "wasserstein": ["gp", "lp", "clip"]}  # fmt: skip


def distributions(cfg) -> dict:
    """The search space as the Optuna sweeper builds it from hydra.sweeper.params."""
    params = [f"{k}={v}" for k, v in cfg.hydra.sweeper.params.items()]
    space, fixed = create_params_from_overrides(params)
    assert fixed == {}
    return space


def test_one_file_per_loss_family():
    assert FILES == sorted(LOSS)


@pytest.mark.parametrize("name", FILES)
def test_search_space_composes_with_lucic_ranges(name):
    cfg = compose([f"hparams_search={name}"])
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper")
    assert sweeper.sampler._target_ == "optuna.samplers.RandomSampler" and sweeper.sampler.seed == 0
    assert cfg.optimized_metric == "mode_tv" and sweeper.direction == "minimize"
    assert type(instantiate(cfg.loss)).__name__ == LOSS[name]
    space = distributions(cfg)
    for side in ("generator", "discriminator"):
        lr = space[f"optimizer.{side}.lr"]
        assert isinstance(lr, LogUniformDistribution) and (lr.low, lr.high) == (1e-5, 1e-2)
    beta1, beta2 = space["optimizer.generator.betas.0"], space["optimizer.generator.betas.1"]
    assert isinstance(beta1, UniformDistribution) and (beta1.low, beta1.high) == (0.0, 1.0)
    assert isinstance(beta2, UniformDistribution) and (beta2.low, beta2.high) == (0.9, 0.999)
    assert space["n_critic"] == CategoricalDistribution([1, 2, 3, 4, 5])
    assert space["ema.decay"] == CategoricalDistribution([0.0, 0.99, 0.999])
    assert space["+optimizer/scheduler"] == CategoricalDistribution(["constant", "linear"])
    assert space["regularizer.kind"] == CategoricalDistribution(PENALTIES[name])
    weight = space["regularizer.weight"]
    assert isinstance(weight, LogUniformDistribution) and (weight.low, weight.high) == (0.1, 100.0)
    assert sorted(k for k in space if k.startswith("regularizer")) == ["regularizer.kind", "regularizer.weight"]
    text = (conf_dir() / "hparams_search" / f"{name}.yaml").read_text()
    assert "Lucic et al. 2018" in text and "[1e-5, 1e-2]" in text and "Kurach et al. 2019" in text


def test_no_loss_gets_a_penalty_the_others_cannot_choose():
    """Every search space has the same dimensions; the penalty choice is the same for every loss
    family that can do without a constraint, and the weight's range is the same for all."""
    spaces = {name: distributions(compose([f"hparams_search={name}"])) for name in FILES}
    assert len({tuple(sorted(space)) for space in spaces.values()}) == 1
    kinds = {name: space["regularizer.kind"].choices for name, space in spaces.items()}
    assert {kinds[n] for n in FILES if n != "wasserstein"} == {("none", "gp", "r1")}
    assert len({str(space["regularizer.weight"]) for space in spaces.values()}) == 1


@pytest.mark.parametrize(
    "kind, cls, attribute",
    [("none", NoRegularizer, None), ("gp", GradientPenalty, "weight"), ("r1", SquaredGradientPenalty, "gamma"),
     ("lp", OneSidedGradientPenalty, "weight"), ("clip", WeightClipping, None)],
)  # fmt: skip
def test_a_sampled_penalty_builds_the_regularizer_and_the_plain_options_rebuild_it(kind, cls, attribute):
    name = "wasserstein" if kind in ("lp", "clip") else "hinge"
    cfg = compose([f"hparams_search={name}", f"regularizer.kind={kind}", "regularizer.weight=3.5"])
    built = instantiate(cfg.regularizer)
    assert type(built) is cls
    if attribute:
        assert getattr(built, attribute) == 3.5
    # the seed runs rebuild it through the regularizer group, without the search
    plain = instantiate(compose(penalty_overrides(kind, "3.5")).regularizer)
    assert type(plain) is cls and vars(plain) == vars(built) == vars(searched_penalty(kind, 3.5))
    if kind == "r1":
        assert plain.on == "real"


@pytest.mark.parametrize(
    "name, kind, named",
    [("sigmoid", "none", "none"), ("hinge", "gp", "gp(weight=3.5)"), ("least_squares", "r1", "r1(gamma=3.5)"),
     ("wasserstein", "lp", "lp(weight=3.5)"), ("wasserstein", "clip", "clip")],
)  # fmt: skip
def test_a_trial_s_record_names_its_penalty_as_its_seed_runs_do(name, kind, named):
    # a trial composes regularizer=none with the searched node; its record must not say "none"
    trial = compose([f"hparams_search={name}", f"regularizer.kind={kind}", "regularizer.weight=3.5"])
    rebuilt = compose(penalty_overrides(kind, "3.5"))
    assert choices(trial)["regularizer"] == choices(rebuilt)["regularizer"] == KINDS[kind][0]
    names = [objective(cfg, choices(cfg))["regularizer"] for cfg in (trial, rebuilt)]
    assert names == [named, named]
    # any other regularizer is named as before
    assert objective(compose(["regularizer=gp"]), {"regularizer": "gp"})["regularizer"] == "gp"


def test_an_unknown_penalty_is_named():
    with pytest.raises(ValueError, match="regularizer.kind must be one of none, gp, r1, lp, clip"):
        searched_penalty("dragan")


def test_sampled_values_reach_both_optimisers_and_the_linear_schedule():
    """One trial's overrides, as the sweeper passes them: D shares G's betas, and the linear schedule
    takes the learning rate to 0 at the last iteration."""
    cfg = compose(
        [
            "hparams_search=wasserstein",
            "iterations=4",
            "regularizer.kind=gp",
            "optimizer.generator.betas.0=0.25",
            "optimizer.generator.betas.1=0.95",
            "optimizer.discriminator.lr=3e-4",
            "regularizer.weight=0.5",
            "+optimizer/scheduler=linear",
        ]
    )
    assert list(cfg.optimizer.discriminator.betas) == [0.25, 0.95]
    assert instantiate(cfg.regularizer).weight == 0.5
    param = torch.nn.Parameter(torch.zeros(1))
    opt = instantiate(cfg.optimizer.discriminator)([param])
    assert opt.defaults["betas"] == (0.25, 0.95) and opt.defaults["lr"] == 3e-4
    schedule = instantiate(cfg.optimizer.scheduler)(opt)
    lrs = []
    for _ in range(4):
        opt.step()
        schedule.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs == pytest.approx([3e-4 * (1 - t / 4) for t in range(1, 5)], abs=1e-12)


def test_constant_schedule_keeps_the_learning_rate():
    cfg = compose(["+optimizer/scheduler=constant"])
    param = torch.nn.Parameter(torch.zeros(1))
    opt = instantiate(cfg.optimizer.generator)([param])
    schedule = instantiate(cfg.optimizer.scheduler)(opt)
    for _ in range(3):
        opt.step()
        schedule.step()
    assert opt.param_groups[0]["lr"] == cfg.optimizer.generator.lr


def test_the_module_built_from_the_config_takes_a_trials_values():
    """conf/module/gan.yaml interpolates the root keys and the optimizer group that the searches name."""
    from ganbench.losses import NonSaturatingLoss
    from ganbench.models import MLPDiscriminator, MLPGenerator

    trial = ["n_critic=3", "ema.decay=0.999", "grad_clip=5", "optimizer.generator.betas.0=0.25",
             "optimizer.generator.lr=2e-3", "+optimizer/scheduler=linear"]  # fmt: skip
    cfg = compose(["hparams_search=sigmoid", "iterations=4", *trial])
    module = instantiate(
        cfg.module, generator=MLPGenerator(), discriminator=MLPDiscriminator(), loss=NonSaturatingLoss(),
        regularizer=None, real_sampler=None,
    )  # fmt: skip
    assert (module.n_critic, module.generator_ema.decay, module.grad_clip, module.last_iteration) == (3, 0.999, 5, 4)
    assert module.lightning_steps() == 4 * (3 + 1)
    d_opt, g_opt = module.configure_optimizers()
    assert d_opt.defaults["betas"] == g_opt.defaults["betas"] == (0.25, 0.999)  # D's betas tied to G's
    assert g_opt.defaults["lr"] == 2e-3 and d_opt.defaults["lr"] == cfg.optimizer.discriminator.lr
    assert [(type(s).__name__, s.total_iters) for s in module._schedulers] == [("LinearLR", 4)] * 2
