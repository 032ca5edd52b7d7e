"""The interface every objective of ``conf/loss/`` keeps (or of ``--loss-config-dir``): scalar,
finite batch means with finite gradients, and declarations that match what the loss does.

These run on each option found by tests/losses/conftest.py, so a new loss is checked here as soon
as its YAML exists. The values checked are properties any GAN objective has (no formula of a
particular loss): a batch mean is unchanged when the batch is repeated; a declared shift
invariance holds, and an undeclared one does not; ``has_pointwise_optimum`` says whether
``optimal_output`` answers or raises :class:`NoPointwiseOptimumError`.
"""

from __future__ import annotations

import pytest
import torch

from ganbench.losses import GANLoss, NoPointwiseOptimumError
from ganbench.losses.theory import DIVERGENCES

REAL = [2.0, -0.5, 0.0, 3.5, -1.25, 0.75]
FAKE = [-1.0, 0.3, -2.5, 1.5, 0.0, -0.2]


def outputs(dtype: torch.dtype = torch.float64, grad: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    return (
        torch.tensor(REAL, dtype=dtype, requires_grad=grad),
        torch.tensor(FAKE, dtype=dtype, requires_grad=grad),
    )


def losses(loss: GANLoss, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return loss.discriminator_loss(real, fake), loss.generator_loss(fake, real)


def test_is_a_gan_loss_with_a_name(loss_case):
    name, loss = loss_case
    assert isinstance(loss, GANLoss), f"{name}: {type(loss).__name__} does not implement ganbench.losses.GANLoss"
    assert isinstance(loss.name, str) and loss.name and loss.name != "loss", f"{name}: set a short `name`"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_scalar_finite_values_and_gradients(loss_case, dtype):
    name, loss = loss_case
    for scale in (1.0, 8.0):  # ordinary outputs, and a confident discriminator (|d| up to 28)
        real, fake = outputs(dtype, grad=True)
        real_s, fake_s = real * scale, fake * scale
        d, g = losses(loss, real_s, fake_s)
        assert d.shape == () and g.shape == (), f"{name}: losses must be scalar means, got {d.shape}, {g.shape}"
        assert d.dtype == dtype and g.dtype == dtype, name
        assert torch.isfinite(d) and torch.isfinite(g), f"{name} at scale {scale}: {d.item()}, {g.item()}"
        grads = torch.autograd.grad(d, (real, fake), retain_graph=True) + torch.autograd.grad(g, (fake,))
        assert all(torch.isfinite(x).all() for x in grads), f"{name} at scale {scale}: non-finite gradient"
        assert grads[2].abs().sum() > 0, f"{name}: the generator loss does not depend on the fake outputs"


def test_losses_are_batch_means(loss_case):
    # the same outputs three times over: a mean (or a mean over pairs, or around batch means) is
    # unchanged, a sum triples
    name, loss = loss_case
    real, fake = outputs()
    d1, g1 = losses(loss, real, fake)
    d3, g3 = losses(loss, real.repeat(3), fake.repeat(3))
    assert d3.item() == pytest.approx(d1.item(), rel=1e-12, abs=1e-12), name
    assert g3.item() == pytest.approx(g1.item(), rel=1e-12, abs=1e-12), name


def test_shift_invariance_is_declared_as_it_is(loss_case):
    name, loss = loss_case
    real, fake = outputs()
    shifted = loss.discriminator_loss(real + 0.7, fake + 0.7).item()
    base = loss.discriminator_loss(real, fake).item()
    if loss.shift_invariant:
        assert shifted == pytest.approx(base, abs=1e-12), f"{name} declares shift_invariant but L_D moved"
    else:
        assert abs(shifted - base) > 1e-6, f"{name}: L_D ignores a constant shift; declare shift_invariant = True"


def test_pointwise_optimum_is_declared_as_it_is(loss_case):
    name, loss = loss_case
    p = torch.tensor([0.3, 0.1, 0.2, 0.05], dtype=torch.float64)
    q = torch.tensor([0.1, 0.3, 0.2, 0.4], dtype=torch.float64)
    if not loss.has_pointwise_optimum:
        with pytest.raises(NoPointwiseOptimumError, match=loss.name):
            loss.optimal_output(p, q)
        return
    opt = loss.optimal_output(p, q)
    assert opt.shape == p.shape and not torch.isnan(opt).any(), f"{name}: optimal_output {opt}"
    # swapping the densities moves the optimum: it depends on them
    assert not torch.allclose(loss.optimal_output(q, p), opt), f"{name}: optimal_output ignores the densities"


def test_declared_identity_names_a_known_divergence(loss_case):
    name, loss = loss_case
    identity = loss.optimum_identity()
    if identity is None:
        pytest.skip(f"{name}: {type(loss).__name__} declares no optimum_identity")
    assert loss.has_pointwise_optimum, f"{name} declares an identity at an optimum it does not define"
    assert identity.divergence in DIVERGENCES, f"{name}: {identity.divergence!r} is not in theory.DIVERGENCES"
