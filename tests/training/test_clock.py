"""The module's iteration clock, seen by a callback, across a run and its extension (resume=…
iterations=N), with several iterations per Lightning step."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from ganbench.config import compose
from ganbench.experiment import build

# n_critic = 2: three optimiser steps per iteration. Steps of up to 5 iterations that also end on
# every checkpoint (each 4th iteration) and on the last iteration.
BASE = ["n_critic=2", "batch_size=16", "iterations_per_step=5", "checkpoint.every=4", "eval.every=null",
        "evaluator.num_samples=50", "log_every=100", "trainer.enable_progress_bar=false"]  # fmt: skip


class ClockReader(Callback):
    def __init__(self) -> None:
        self.start: int | None = None
        self.seen: list[tuple[int, int | None, bool, int]] = []

    def on_train_start(self, trainer, pl_module) -> None:
        self.start = pl_module.iteration

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        clock = (pl_module.iteration, pl_module.last_iteration, pl_module.is_last_iteration)
        self.seen.append((*clock, trainer.global_step))


def _fit(iterations: int, run_dir: Path, ckpt: Path | None = None):
    exp = build(compose([*BASE, f"iterations={iterations}"]), run_dir)
    reader = ClockReader()
    exp.trainer.callbacks.append(reader)
    exp.trainer.fit(exp.module, datamodule=exp.datamodule, ckpt_path=str(ckpt) if ckpt else None, weights_only=True)
    return exp, reader


def test_the_clock_across_a_run_and_its_extension(tmp_path):
    exp, first = _fit(12, tmp_path)
    assert exp.trainer.max_steps == 12 * 3
    # steps end at min(next multiple of 5, next multiple of 4, 12): worked out by hand
    assert first.start == 0
    assert [s[0] for s in first.seen] == [4, 5, 8, 10, 12]
    assert all(last == 12 and global_step == 3 * it for it, last, _, global_step in first.seen)
    assert [s[2] for s in first.seen] == [False, False, False, False, True]
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["ganbench"]["iteration"] == 12 and ckpt["global_step"] == 36

    exp, extended = _fit(20, tmp_path, tmp_path / "checkpoints" / "last.ckpt")
    assert exp.trainer.max_steps == 20 * 3
    assert extended.start == 12  # the clock resumes where the run stopped
    assert [s[0] for s in extended.seen] == [15, 16, 20]
    assert all(last == 20 and global_step == 3 * it for it, last, _, global_step in extended.seen)
    assert [s[2] for s in extended.seen] == [False, False, True]
    assert exp.module.iteration == 20 and exp.module.is_last_iteration


def test_a_run_saved_before_the_module_group_existed_is_refused_in_one_line(tmp_path):
    """Its config.yaml has no `module`: no compatibility branch continues it, and nothing is written."""
    from omegaconf import OmegaConf

    from ganbench.errors import ConfigError
    from ganbench.experiment import run

    run_dir = tmp_path / "run"
    assert run(compose([*BASE, "iterations=8"]), run_dir, overrides=[])["status"] == "completed"
    saved = OmegaConf.load(run_dir / "config.yaml")
    assert saved.module.n_critic == 2 and saved.module._target_ == "ganbench.training.GANModule"
    del saved["module"]
    OmegaConf.save(saved, run_dir / "config.yaml")
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    with pytest.raises(ConfigError, match=r"has no module \(written by an older ganbench.*another hydra.run.dir"):
        run(compose([*BASE, "iterations=8"]), run_dir, overrides=[])
    overrides = ["iterations=12", f"resume={run_dir}"]
    with pytest.raises(ConfigError, match=r"resume=.*has no module \(written by an older ganbench.*without resume="):
        run(compose([*BASE, *overrides]), run_dir, overrides=overrides)
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before
