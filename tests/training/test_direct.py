"""The direct backward / optimiser step (ganbench.training.direct): taken only where Lightning's
layers would do nothing, and then the same training, the same step counters, the same hooks."""

from __future__ import annotations

import functools
from types import SimpleNamespace

import lightning as L
import pytest
import torch
from lightning.pytorch import Callback
from lightning.pytorch.plugins.precision import DoublePrecision, MixedPrecision, Precision
from lightning.pytorch.strategies import DDPStrategy, SingleDeviceStrategy
from torch.utils.data import DataLoader

import ganbench.training.module as module_mod
from ganbench.losses import NonSaturatingLoss
from ganbench.models import MLPDiscriminator, MLPGenerator
from ganbench.regularizers.base import NoRegularizer, Regularizer
from ganbench.training import GANModule
from ganbench.training.callbacks import IterationEvents
from ganbench.training.direct import plain_backward, plain_optimizer_step

ITERATIONS, N_CRITIC, BATCH = 6, 2, 8


class CountingCallback(Callback):
    """Counts the backward and optimiser-step hooks Lightning calls."""

    def __init__(self) -> None:
        self.calls = {"on_before_backward": 0, "on_after_backward": 0, "on_before_optimizer_step": 0}

    def on_before_backward(self, trainer, pl_module, loss):
        self.calls["on_before_backward"] += 1

    def on_after_backward(self, trainer, pl_module):
        self.calls["on_after_backward"] += 1

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.calls["on_before_optimizer_step"] += 1


class StepOnlyCallback(Callback):
    def __init__(self) -> None:
        self.steps = 0

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.steps += 1


class AfterBackwardModule(GANModule):
    """Overrides a backward hook: it must still be called (Lightning's path)."""

    def on_after_backward(self) -> None:
        self.after_backward_calls = getattr(self, "after_backward_calls", 0) + 1


class ShiftedPenalty(NoRegularizer):
    """A subclass of the no-op regularizer whose penalty is not zero: it must be added."""

    def penalty(self, discriminator, real, fake):
        return discriminator(real).mean() * 0.5


def make(module_cls=GANModule, regularizer=None, seed: int = 0, **kw) -> GANModule:
    torch.manual_seed(seed)
    adam = functools.partial(torch.optim.Adam, lr=1e-2, betas=(0.5, 0.999))
    return module_cls(
        MLPGenerator(hidden_dim=16, num_layers=2),
        MLPDiscriminator(hidden_dim=16, num_layers=2),
        NonSaturatingLoss(),
        regularizer,
        g_optimizer=adam,
        d_optimizer=adam,
        batch_size=BATCH,
        n_critic=N_CRITIC,
        ema_decay=0.9,
        log_every=2,
        iterations=ITERATIONS,
        **kw,
    )


def fit(module: GANModule, callbacks=(), **trainer_kw) -> L.Trainer:
    torch.manual_seed(1)
    batches = [torch.randn(N_CRITIC * BATCH, 2) for _ in range(ITERATIONS)]
    trainer = L.Trainer(
        max_steps=module.lightning_steps(),
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        callbacks=list(callbacks),
        **trainer_kw,
    )
    trainer.fit(module, DataLoader(batches, batch_size=None))
    return trainer


def state(module: GANModule) -> dict[str, torch.Tensor]:
    out = {k: v.clone() for k, v in module.state_dict().items()}
    for i, opt in enumerate((module._d_opt_raw, module._g_opt_raw)):
        for j, st in enumerate(opt.state.values()):
            for k, v in st.items():
                out[f"opt{i}.{j}.{k}"] = torch.as_tensor(v).clone()
    return out


def test_default_run_takes_the_direct_path_and_matches_lightnings_bit_for_bit(monkeypatch):
    direct = make()
    trainer = fit(direct)
    assert direct._direct_backward and direct._direct_step
    # the manual loop's counters still advance: one Lightning step per optimiser step
    assert trainer.global_step == ITERATIONS * (N_CRITIC + 1) and direct.iteration == ITERATIONS

    monkeypatch.setattr(module_mod, "plain_backward", lambda *a: False)
    monkeypatch.setattr(module_mod, "plain_optimizer_step", lambda *a: False)
    wrapped = make()
    trainer_w = fit(wrapped)
    assert not wrapped._direct_backward and not wrapped._direct_step
    assert trainer_w.global_step == trainer.global_step
    a, b = state(direct), state(wrapped)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert direct.latest == wrapped.latest


def test_grad_norms_are_still_measured_on_the_direct_path():
    module = make()
    fit(module)
    assert module._direct_step
    assert module.latest["d_grad_norm"] > 0 and module.latest["g_grad_norm"] > 0


@pytest.mark.parametrize("wrap", [False, True], ids=["plain", "inside IterationEvents"])
def test_a_callback_with_backward_and_step_hooks_sees_every_call(wrap):
    counter = CountingCallback()
    module = make()
    fit(module, [IterationEvents(counter) if wrap else counter])
    assert not module._direct_backward and not module._direct_step
    updates = ITERATIONS * (N_CRITIC + 1)
    assert counter.calls == {
        "on_before_backward": updates,
        "on_after_backward": updates,
        "on_before_optimizer_step": updates,
    }


def test_a_step_hook_alone_keeps_lightnings_step_but_not_its_backward():
    cb = StepOnlyCallback()
    module = make()
    fit(module, [cb])
    assert module._direct_backward and not module._direct_step
    assert cb.steps == ITERATIONS * (N_CRITIC + 1)


def test_a_module_overriding_a_backward_hook_keeps_lightnings_backward():
    module = make(AfterBackwardModule)
    fit(module)
    assert not module._direct_backward and module._direct_step
    assert module.after_backward_calls == ITERATIONS * (N_CRITIC + 1)


def _trainer(strategy, precision, callbacks=(), clip=None) -> SimpleNamespace:
    return SimpleNamespace(
        strategy=strategy, precision_plugin=precision, callbacks=list(callbacks), gradient_clip_val=clip
    )


def test_only_a_single_device_and_a_plain_precision_qualify():
    module, own = make(), GANModule.on_before_optimizer_step
    single = SingleDeviceStrategy(device=torch.device("cpu"))
    scaler = torch.amp.GradScaler("cpu")
    for precision, ok in [
        (Precision(), True),
        (MixedPrecision("bf16-mixed", "cpu"), True),
        (MixedPrecision("16-mixed", "cpu", scaler=scaler), False),  # the GradScaler scales the loss
        (DoublePrecision(), False),
    ]:
        assert plain_backward(_trainer(single, precision), module) is ok, precision
        assert plain_optimizer_step(_trainer(single, precision), module, own) is ok, precision
    ddp = DDPStrategy()  # prepare_for_backward, gradient all-reduce
    assert not plain_backward(_trainer(ddp, Precision()), module)
    assert not plain_optimizer_step(_trainer(ddp, Precision()), module, own)
    assert not plain_optimizer_step(_trainer(single, Precision(), clip=1.0), module, own)


def test_the_zero_penalty_of_no_regularizer_is_not_added_but_a_real_one_is():
    assert not make(regularizer=NoRegularizer())._adds_penalty
    assert not make(regularizer=Regularizer())._adds_penalty
    assert make(regularizer=ShiftedPenalty())._adds_penalty
    module = make(regularizer=ShiftedPenalty())
    fit(module)
    assert module.latest["regularizer"] != 0.0


def test_skipping_the_zero_penalty_changes_nothing_and_a_real_penalty_still_trains_d(monkeypatch):
    skipped = make(regularizer=NoRegularizer())
    fit(skipped)
    added = make(regularizer=NoRegularizer())
    monkeypatch.setattr(added, "_adds_penalty", True)  # D's loss + 0, as before
    fit(added)
    a, b = state(skipped), state(added)
    assert all(torch.equal(a[k], b[k]) for k in a)
    penalised = make(regularizer=ShiftedPenalty())
    fit(penalised)
    c = state(penalised)
    assert not torch.equal(a["discriminator.net.0.weight"], c["discriminator.net.0.weight"])


class ClosureRecordingAdam(torch.optim.Adam):
    """Counts its steps and insists on a closure at each (an optimiser may rely on getting one)."""

    def __init__(self, params, **kw):
        super().__init__(params, **kw)
        self.closure_calls = 0

    def step(self, closure=None):
        assert closure is not None, "Lightning always hands the optimiser a closure"
        self.closure_calls += 1
        return super().step(closure)


def test_the_optimiser_gets_a_closure_on_both_paths(monkeypatch):
    calls = {}
    for path in ("direct", "lightning"):
        if path == "lightning":
            monkeypatch.setattr(module_mod, "plain_optimizer_step", lambda *a: False)
        torch.manual_seed(0)
        opt = functools.partial(ClosureRecordingAdam, lr=1e-2)
        module = GANModule(
            MLPGenerator(hidden_dim=16, num_layers=2), MLPDiscriminator(hidden_dim=16, num_layers=2),
            NonSaturatingLoss(), g_optimizer=opt, d_optimizer=opt, batch_size=BATCH, n_critic=N_CRITIC,
            ema_decay=None, log_every=2, iterations=ITERATIONS,
        )  # fmt: skip
        fit(module)
        assert module._direct_step is (path == "direct")
        calls[path] = (module._d_opt_raw.closure_calls, module._g_opt_raw.closure_calls, module.latest)
    assert calls["direct"] == calls["lightning"]
    assert calls["direct"][:2] == (ITERATIONS * N_CRITIC, ITERATIONS)
