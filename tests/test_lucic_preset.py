"""+experiment=cifar10_lucic and the lucic_* variants: Lucic et al. 2018's setting (compare_gan's
networks and per-loss defaults, a budget of 78,125 D steps, FID on the 10k test images every 5
epochs with the best value recorded)."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import get_class, instantiate

from ganbench.config import compose
from ganbench.training.callbacks import _due

EPOCH_D_STEPS = 50000 / 64  # 781.25


def class_name(node) -> str:
    return get_class(node._target_).__name__


def test_base_preset_is_ns_gan_in_lucics_setting():
    cfg = compose(["+experiment=cifar10_lucic"])
    assert class_name(cfg.model.generator) == "InfoGANGenerator" and cfg.model.generator.latent_dim == 64
    assert cfg.model.generator.latent_distribution == "uniform" and cfg.model.discriminator.norm == "batch"
    assert (cfg.batch_size, cfg.batch_size_is, cfg.n_critic, cfg.iterations) == (64, "global", 1, 78125)
    assert cfg.iterations * cfg.n_critic == 100 * EPOCH_D_STEPS  # 100 epochs of D steps
    assert (cfg.evaluator.num_samples, cfg.evaluator.num_real, cfg.evaluator.split) == (
        10000, 10000, "test")  # fmt: skip
    assert cfg.eval.best is True and cfg.ema.decay is None and cfg.checkpoint.every == cfg.eval.every
    assert class_name(cfg.loss) == "NonSaturatingLoss" and class_name(cfg.regularizer) == "NoRegularizer"
    assert (cfg.optimizer.generator.lr, list(cfg.optimizer.generator.betas)) == (5e-5, [0.0, 0.999])


@pytest.mark.parametrize(
    "variant,loss,regularizer,n_critic,lr,beta1,norm",
    [
        ("lucic_ns", "NonSaturatingLoss", "NoRegularizer", 1, 5e-5, 0.0, "batch"),
        ("lucic_mm", "MinimaxLoss", "NoRegularizer", 1, 5e-5, 0.0, "batch"),
        ("lucic_lsgan", "LeastSquaresLoss", "NoRegularizer", 1, 2e-4, 0.5, "batch"),
        ("lucic_wgan", "WassersteinLoss", "WeightClipping", 5, 5e-5, 0.5, "batch"),
        ("lucic_wgan_gp", "WassersteinLoss", "GradientPenalty", 5, 1e-4, 0.5, "none"),
    ],
)
def test_variants_carry_compare_gans_defaults_and_keep_the_d_step_budget(
    variant, loss, regularizer, n_critic, lr, beta1, norm
):
    cfg = compose(["+experiment=cifar10_lucic", f"variant={variant}"])
    assert (class_name(cfg.loss), class_name(cfg.regularizer), cfg.n_critic) == (loss, regularizer, n_critic)
    for side in ("generator", "discriminator"):
        assert (cfg.optimizer[side].lr, cfg.optimizer[side].betas[0]) == (lr, beta1)
    assert cfg.model.discriminator.norm == norm
    # the budget is 78,125 D steps whatever n_critic: ceil(78125 / n) iterations of n D steps
    assert cfg.iterations == -(-78125 // n_critic) and 78125 <= cfg.iterations * n_critic < 78125 + n_critic
    # evaluations every 5 epochs (3,906.25 D steps) and at the end: 20 in all
    every, last = int(cfg.eval.every), int(cfg.iterations)
    due = [i for i in range(1, last + 1) if _due(i, every, last)]
    assert len(due) == 20 and due[-1] == cfg.iterations
    assert all(abs(i * n_critic / EPOCH_D_STEPS / (5 * (k + 1)) - 1) < 0.002 for k, i in enumerate(due[:-1]))
    if variant == "lucic_lsgan":
        assert instantiate(cfg.loss).squash == "sigmoid"
    if variant == "lucic_wgan":
        assert cfg.regularizer.clip_value == 0.01
    # the same config whichever order the two options are given in
    swapped = compose([f"variant={variant}", "+experiment=cifar10_lucic"])
    assert {k: swapped[k] for k in cfg if k != "hydra"} == {k: cfg[k] for k in cfg if k != "hydra"}


def test_wgan_gp_penalty_is_compare_gans_in_its_unit_range():
    """weight 40, target ½ on x ∈ [−1, 1] equals λ = 10, target 1 on compare_gan's u = (x + 1)/2."""
    from ganbench.models import InfoGANDiscriminator

    cfg = compose(["+experiment=cifar10_lucic", "variant=lucic_wgan_gp"])
    gp = instantiate(cfg.regularizer)
    torch.manual_seed(0)
    d = InfoGANDiscriminator(norm="none")
    real = torch.rand(6, 3, 32, 32) * 2 - 1
    fake = torch.rand(6, 3, 32, 32) * 2 - 1
    torch.manual_seed(1)
    ours = gp.penalty(d, real, fake)
    # compare_gan: alpha ~ U per sample, interpolates = real + alpha (fake - real), in u-space on D_u(u) = D(2u - 1)
    torch.manual_seed(1)
    eps = torch.rand(6, 1, 1, 1)  # ganbench draws ε for the real side: x̂ = ε·real + (1 − ε)·fake
    u = ((eps * real + (1 - eps) * fake + 1) / 2).requires_grad_()
    (grad,) = torch.autograd.grad(d(2 * u - 1).sum(), u)
    reference = 10.0 * (grad.flatten(1).norm(dim=1) - 1.0).square().mean()
    torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-6)
    assert reference > 1e-3
