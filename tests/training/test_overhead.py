"""The host-overhead cuts keep behaviour: merged callbacks, the null profiler, the EMA's cached
tensor lists, the NVML workaround and the module's plain-attribute fast path."""

from __future__ import annotations

import contextlib
import copy
import os

import pytest
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.profilers import SimpleProfiler
from torch import nn

from ganbench.config import compose
from ganbench.experiment import build
from ganbench.training import EMAGenerator
from ganbench.training.callbacks import IterationEvents
from ganbench.training.overhead import NullProfiler, no_nvml_check_on_cpu


class Recorder(Callback):
    def __init__(self, name: str, log: list) -> None:
        self.name, self.log = name, log

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.log.append((self.name, "batch_end", batch_idx))


class RecorderWithEnd(Recorder):
    def on_train_end(self, trainer, pl_module):
        self.log.append((self.name, "train_end"))


def test_merged_callbacks_forward_their_own_hooks_in_order():
    log: list = []
    events = IterationEvents(Recorder("a", log), RecorderWithEnd("b", log), Recorder("c", log))
    events.on_train_batch_end(None, None, None, None, 3)
    events.on_train_end(None, None)
    events.on_before_backward(None, None, None)  # nobody implements it: nothing runs
    assert log == [("a", "batch_end", 3), ("b", "batch_end", 3), ("c", "batch_end", 3), ("b", "train_end")]
    # hooks none of them overrides stay the base no-op, so Lightning's per-backward calls cost nothing extra
    assert events.on_before_backward.__func__ is Callback.on_before_backward
    assert events.on_before_optimizer_step.__func__ is Callback.on_before_optimizer_step


def test_merged_callbacks_keep_the_state_of_stateful_ones():
    class Stateful(Callback):
        def __init__(self, x):
            self.x = x

        def state_dict(self):
            return {"x": self.x}

        def load_state_dict(self, state):
            self.x = state["x"]

    saved = IterationEvents(Callback(), Stateful(7)).state_dict()
    assert saved == {"1": {"x": 7}}
    restored = IterationEvents(Callback(), Stateful(0))
    restored.load_state_dict(saved)
    assert restored.callbacks[1].x == 7


def test_build_uses_the_null_profiler_unless_one_is_configured(tmp_path):
    exp = build(compose(["trainer.enable_progress_bar=false", "iterations=3"]), tmp_path / "a")
    assert isinstance(exp.trainer.profiler, NullProfiler)
    with exp.trainer.profiler.profile("x") as value:
        assert value is None
    assert isinstance(exp.trainer.profiler.profile("y"), contextlib.nullcontext)
    cfg = compose(["trainer.enable_progress_bar=false", "iterations=3", "+trainer.profiler=simple"])
    exp = build(cfg, tmp_path / "b")
    assert isinstance(exp.trainer.profiler, SimpleProfiler)


def test_cached_ema_follows_moves_and_buffer_replacement():
    torch.manual_seed(0)
    g = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    ema = EMAGenerator(g, decay=0.5)
    holder = nn.ModuleDict({"g": g, "ema": ema})
    expected = [p.detach().clone() for p in ema.module.parameters()]
    for step in range(3):
        with torch.no_grad():
            for p in g.parameters():
                p.add_(1.0)
            g[1].running_mean.add_(step + 1.0)
        if step == 1:
            holder.to(torch.float64)  # replaces buffers, keeps parameter objects
            expected = [e.double() for e in expected]
        if step == 2:
            g[1].running_mean = g[1].running_mean + 5.0  # the generator's buffer alone is replaced
        ema.update(g, step)
        # independent re-implementation: θ_ema ← 0.5·θ_ema + 0.5·θ; buffers copied
        expected = [0.5 * e + 0.5 * p.detach() for e, p in zip(expected, g.parameters())]
        for e, p in zip(expected, ema.module.parameters()):
            assert torch.allclose(e, p, rtol=1e-6, atol=1e-7)
        assert torch.equal(ema.module[1].running_mean, g[1].running_mean)
    assert ema.module[1].running_mean.dtype == torch.float64


def test_ema_copy_is_independent_after_deepcopy():
    g = nn.Linear(2, 2)
    ema = EMAGenerator(g, decay=0.0)
    ema.update(g, 0)
    twin = copy.deepcopy(nn.ModuleDict({"g": g, "ema": ema}))
    with torch.no_grad():
        twin["g"].weight.fill_(3.0)
    twin["ema"].update(twin["g"], 1)
    assert torch.equal(twin["ema"].module.weight, torch.full((2, 2), 3.0))
    assert not torch.equal(ema.module.weight, torch.full((2, 2), 3.0))


@pytest.mark.skipif(torch.cuda.is_available(), reason="only without a GPU")
def test_nvml_check_is_off_during_a_cpu_run_and_restored(monkeypatch):
    monkeypatch.setenv("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    with no_nvml_check_on_cpu():
        assert "PYTORCH_NVML_BASED_CUDA_CHECK" not in os.environ
        assert torch.cuda.is_available() is False
    assert os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] == "1"


def test_lightning_hook_bookkeeping_skips_module_setattr(tmp_path):
    exp = build(compose(["trainer.enable_progress_bar=false", "iterations=3"]), tmp_path)
    module = exp.module
    module._current_fx_name = "training_step"
    assert module.__dict__["_current_fx_name"] == "training_step"
    module.some_layer = nn.Linear(1, 1)  # everything else still registers as usual
    assert "some_layer" in dict(module.named_children())
