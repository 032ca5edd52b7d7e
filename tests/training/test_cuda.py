"""CUDA only (skipped elsewhere): the steady state makes no host sync between log points, and the
mixed-precision modes train. ``benchmarks/gpu_check.sh`` runs these on a GPU machine."""

from __future__ import annotations

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from ganbench.config import compose
from ganbench.experiment import build, run

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

LOG_EVERY = 50


class SyncTrap(Callback):
    """Turns torch's sync debug mode to "error" after iteration ``start`` and back before
    ``stop``: every host sync in between (``.item()``, ``.tolist()``, a blocking copy to the host,
    ``cudaStreamSynchronize``) raises."""

    def __init__(self, start: int, stop: int) -> None:
        self.start, self.stop, self.armed_at, self.disarmed_at = start, stop, None, None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        it = pl_module.iteration
        if self.armed_at is None and it >= self.start:
            torch.cuda.synchronize()
            torch.cuda.set_sync_debug_mode("error")
            self.armed_at = it
        elif self.armed_at is not None and self.disarmed_at is None and it >= self.stop:
            torch.cuda.set_sync_debug_mode("default")
            self.disarmed_at = it

    def on_exception(self, trainer, pl_module, exception):
        torch.cuda.set_sync_debug_mode("default")


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
@pytest.mark.parametrize("iterations_per_step", [1, 10])
def test_steady_state_has_no_host_sync_between_log_points(tmp_path, precision, iterations_per_step):
    # log points at 1, 50, 100: the trap is armed from iteration 10 to 40 (and 20 to 40 for k = 10)
    cfg = compose(
        [
            "trainer.enable_progress_bar=false",
            "accelerator=gpu",
            f"accelerator.precision={precision}",
            f"iterations_per_step={iterations_per_step}",
            "iterations=100",
            f"log_every={LOG_EVERY}",
            "eval.every=null",
            "checkpoint.every=null",
        ]
    )
    exp = build(cfg, tmp_path)
    trap = SyncTrap(start=10, stop=40)
    exp.trainer.callbacks.insert(0, trap)
    try:
        exp.trainer.fit(exp.module, datamodule=exp.datamodule)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert trap.armed_at is not None and trap.disarmed_at is not None
    assert trap.disarmed_at - trap.armed_at >= 20  # iterations run with the trap armed
    assert exp.module.iteration == 100


def test_a_sync_in_the_hot_path_would_be_caught(tmp_path):
    """The trap works: an ``.item()`` per iteration (what the divergence check used to do) raises."""
    cfg = compose(["trainer.enable_progress_bar=false", "accelerator=gpu", "iterations=40", "log_every=50"])
    exp = build(cfg, tmp_path)
    original = exp.module._check_finite

    def blocking_check(iteration, **tensors):
        original(iteration, **tensors)
        tensors["d_loss"].item()

    exp.module._check_finite = blocking_check
    exp.trainer.callbacks.insert(0, SyncTrap(start=5, stop=35))
    with pytest.raises(RuntimeError, match="synchroniz"):
        try:
            exp.trainer.fit(exp.module, datamodule=exp.datamodule)
        finally:
            torch.cuda.set_sync_debug_mode("default")


@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
def test_mixed_precision_trains_on_the_toy_data(tmp_path, precision):
    cfg = compose(
        [
            "trainer.enable_progress_bar=false",
            "accelerator=gpu",
            f"accelerator.precision={precision}",
            "iterations=300",
            "eval.every=null",
        ]
    )
    summary = run(cfg, tmp_path)
    assert summary["status"] == "completed", summary
    assert summary["iterations"] == 300 and summary["metrics"]


def test_compiled_models_train_on_cuda_with_a_gradient_penalty(tmp_path):
    cfg = compose(
        [
            "trainer.enable_progress_bar=false",
            "accelerator=gpu",
            "model.compile=true",
            "loss=wasserstein",
            "regularizer=gp",
            "iterations=50",
            "checkpoint.every=25",
            "eval.every=null",
        ]
    )
    summary = run(cfg, tmp_path)
    assert summary["status"] == "completed", summary
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert not any("_orig_mod" in k for k in ckpt["state_dict"])
