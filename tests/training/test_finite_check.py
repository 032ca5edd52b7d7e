"""The divergence check: one fused finiteness flag, immediate on the CPU, one iteration late on CUDA."""

from __future__ import annotations

import functools
import math

import pytest
import torch
from torch import nn

from ganbench.config import compose
from ganbench.experiment import run
from ganbench.training import finite as finite_mod
from ganbench.training.finite import FiniteCheck, NonFiniteError, all_finite, non_finite_names


def _weights() -> dict[str, list[nn.Parameter]]:
    torch.manual_seed(0)
    d, g = list(nn.Linear(3, 4).parameters()), [nn.Parameter(torch.ones(5))]
    return {"discriminator weights": d, "generator weights": g}


def _tensors(**changes: float) -> dict[str, torch.Tensor]:
    out = {"d_loss": torch.tensor(0.7), "g_loss": torch.tensor(1.2), "d_real": torch.randn(8), "d_fake": torch.randn(8)}
    for name, value in changes.items():
        out[name] = out[name].clone().reshape(-1)
        out[name][-1] = value
    return out


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("where", ["d_loss", "d_real", "d_fake", "discriminator weights", "generator weights"])
def test_the_fused_flag_agrees_with_an_elementwise_check(bad, where):
    weights, tensors = _weights(), _tensors()
    if where in tensors:
        tensors = _tensors(**{where: bad})
    else:
        with torch.no_grad():
            weights[where][0].view(-1)[2] = bad
    flat = [weights[k] for k in weights]
    assert not bool(all_finite(list(tensors.values()), [w for ws in flat for w in ws]))

    # an independent element-by-element account of what is non-finite
    def has_bad(ts) -> bool:
        return any(not math.isfinite(v) for t in ts for v in t.reshape(-1).tolist())

    expected = [k for k, t in tensors.items() if has_bad([t])] + [k for k, ws in weights.items() if has_bad(ws)]
    assert non_finite_names(tensors, weights) == expected == [where]


def test_large_but_finite_values_pass():
    weights, tensors = _weights(), _tensors(d_real=1e30, d_loss=-3e38)
    with torch.no_grad():
        weights["generator weights"][0].fill_(1e15)  # norm 2.2e15: finite
    assert bool(all_finite(list(tensors.values()), [w for ws in weights.values() for w in ws]))


def test_immediate_check_raises_in_the_iteration_itself():
    check, weights = FiniteCheck(deferred=False), _weights()
    check(1, _tensors(), weights)
    with pytest.raises(NonFiniteError, match="non-finite d_fake at iteration 2") as err:
        check(2, _tensors(d_fake=math.nan), weights)
    assert err.value.iteration == 2


def test_deferred_check_reports_the_bad_iteration_one_iteration_later():
    check, weights = FiniteCheck(deferred=True), _weights()
    check(1, _tensors(), weights)
    check(2, _tensors(g_loss=math.inf), weights)  # not read yet
    with pytest.raises(NonFiniteError, match="non-finite g_loss at iteration 2") as err:
        check(3, _tensors(), weights)
    assert err.value.iteration == 2
    # resolve() settles a pending flag at once (what checkpoints and evaluations call)
    check = FiniteCheck(deferred=True)
    check(7, _tensors(d_real=math.nan), weights)
    with pytest.raises(NonFiniteError, match="at iteration 7"):
        check.resolve()
    check.resolve()  # nothing pending any more


def test_default_is_immediate_on_cpu():
    check = FiniteCheck()
    with pytest.raises(NonFiniteError, match="at iteration 4"):
        check(4, _tensors(d_loss=math.nan), _weights())


DIVERGING = [
    "trainer.enable_progress_bar=false",
    "loss=wasserstein",
    "optimizer.generator.lr=1e13",  # G's weights overflow float32 in iteration 2 (see test_resilience)
    "iterations=50",
    "checkpoint.every=1",
    "eval.every=null",
    "log_every=1000",
]


@pytest.mark.parametrize("iterations_per_step", [1, 10])
def test_deferred_check_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, iterations_per_step):
    """What a CUDA run does, on the CPU: the flag of iteration 2 is read only in iteration 3, yet the
    checkpoint due at iteration 2 settles it first, so last.ckpt stays at iteration 1."""
    deferred = functools.partial(finite_mod.FiniteCheck, deferred=True)
    monkeypatch.setattr("ganbench.training.module.FiniteCheck", deferred)
    cfg = compose([*DIVERGING, f"iterations_per_step={iterations_per_step}"])
    summary = run(cfg, tmp_path / "run")
    assert summary["status"] == "diverged", summary
    assert summary["diverged_at"] == 2 and summary["iterations"] == 1
    assert summary["reason"].startswith("non-finite") and summary["reason"].endswith("at iteration 2")
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["ganbench"]["iteration"] == 1
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("iterations_per_step", [1, 10])
def test_cuda_deferred_check_catches_a_nan_and_keeps_the_last_good_checkpoint(tmp_path, iterations_per_step):
    cfg = compose([*DIVERGING, "accelerator=gpu", f"iterations_per_step={iterations_per_step}"])
    summary = run(cfg, tmp_path / "run")
    assert summary["status"] == "diverged", summary
    assert summary["diverged_at"] == 2 and summary["iterations"] == 1, summary
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["ganbench"]["iteration"] == 1
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values())


def test_a_weight_that_no_output_shows_is_caught_in_its_own_iteration():
    """Why the weights are checked directly, every iteration: a −∞ first-layer bias of a ReLU
    generator gives −∞ pre-activations that ReLU maps to 0, so every output (and so every loss) stays
    finite; only the weight check sees it, in the iteration that made it."""
    from ganbench.losses import NonSaturatingLoss
    from ganbench.models import MLPDiscriminator, MLPGenerator
    from ganbench.training import GANModule

    torch.manual_seed(0)
    g = MLPGenerator(hidden_dim=8, num_layers=2)
    first = next(m for m in g.modules() if isinstance(m, nn.Linear))
    with torch.no_grad():
        first.bias[0] = -math.inf
        outputs = g(torch.randn(64, g.latent_dim))
    assert torch.isfinite(outputs).all()  # invisible in the outputs
    with torch.no_grad():
        first.bias[0] = 0.0

    class PoisonAt(GANModule):
        def _gan_iteration(self, iteration, *args):
            super()._gan_iteration(iteration, *args) if iteration != 3 else self._poisoned(iteration, *args)

        def _poisoned(self, iteration, *args):
            with torch.no_grad():
                first.bias[0] = -math.inf  # as if iteration 3's G update had produced it
            super()._gan_iteration(iteration, *args)

    adam = functools.partial(torch.optim.Adam, lr=0.0)  # lr 0: the update leaves the −∞ bias as it is
    module = PoisonAt(
        g, MLPDiscriminator(hidden_dim=8, num_layers=2), NonSaturatingLoss(),
        g_optimizer=adam, d_optimizer=adam, batch_size=16, ema_decay=None, iterations=5,
    )  # fmt: skip
    import lightning as L
    from torch.utils.data import DataLoader

    trainer = L.Trainer(
        max_steps=module.lightning_steps(), max_epochs=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
    )  # fmt: skip
    with pytest.raises(NonFiniteError, match="generator weights at iteration 3") as info:
        trainer.fit(module, DataLoader([torch.randn(16, 2) for _ in range(5)], batch_size=None))
    assert info.value.iteration == 3


def test_finite_values_whose_sum_overflows_do_not_stop_the_run():
    """The fused flag is the float32 sum: two finite 3e38 outputs overflow it to inf. The check
    then looks at each value, finds them all finite, and lets the run go on (and a weight of 1e20,
    whose squared norm would overflow float32, is not named non-finite either)."""
    weights, tensors = _weights(), _tensors(d_real=3e38, d_fake=3e38)
    with torch.no_grad():
        weights["generator weights"][0].fill_(1e20)
    assert not bool(all_finite(list(tensors.values()), [w for ws in weights.values() for w in ws]))
    assert non_finite_names(tensors, weights) == []
    for deferred in (False, True):
        check = FiniteCheck(deferred=deferred)
        check(1, tensors, weights)
        check.resolve()
    with pytest.raises(NonFiniteError, match="non-finite d_fake at iteration 2"):
        check(2, _tensors(d_real=3e38, d_fake=math.nan), weights)
        check.resolve()
