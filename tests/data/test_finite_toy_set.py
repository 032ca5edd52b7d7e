"""A fixed toy training set iterated in shuffled epochs (``dataset.train_size``), and exact resume
with it."""

from __future__ import annotations

import json
import pickle
import shutil

import pytest
import torch

from ganbench.config import compose
from ganbench.data.toy import DeviceSampler, FiniteSetSampler, GridDataModule, RingDataModule
from ganbench.experiment import run
from helpers import assert_same_state, checkpoint_state


def test_the_training_set_is_drawn_once_from_its_seed():
    a = RingDataModule(10, train_size=1000, train_seed=4).training_set()
    b = RingDataModule(10, train_size=1000, train_seed=4).training_set()
    c = RingDataModule(10, train_size=1000, train_seed=5).training_set()
    assert a.shape == (1000, 2) and torch.equal(a, b) and not torch.equal(a, c)
    # it is a sample of the mixture: every point within 5σ of a mode
    dm = GridDataModule(10, train_size=500)
    d = torch.cdist(dm.training_set(), dm.mixture.centers).min(dim=1).values
    assert float(d.max()) < 5 * dm.mixture.sigma


def test_without_train_size_batches_are_fresh_samples():
    assert isinstance(RingDataModule(10).real_sampler(1), DeviceSampler)
    with pytest.raises(ValueError, match="train_size"):
        RingDataModule(10, train_size=0)


def test_each_epoch_visits_every_point_once_in_a_new_order():
    data = torch.arange(10.0).repeat(2, 1).T  # point i is (i, i)
    sampler = FiniteSetSampler(data, seed=3)
    batches = [sampler(4, torch.device("cpu")) for _ in range(5)]  # 20 draws = 2 epochs; batch 3 straddles
    seen = torch.cat(batches)[:, 0].long()
    first, second = seen[:10], seen[10:]
    assert sorted(first.tolist()) == list(range(10)) and sorted(second.tolist()) == list(range(10))
    assert first.tolist() != second.tolist()  # reshuffled
    assert sampler.state_dict() == {"seed": 3, "position": 20}


def test_state_dict_and_pickling_continue_the_same_stream():
    data = torch.randn(37, 2, generator=torch.Generator().manual_seed(0))
    a = FiniteSetSampler(data, seed=9)
    for _ in range(3):
        a(16, "cpu")
    b = FiniteSetSampler(data, seed=0)
    b.load_state_dict(a.state_dict())
    c = pickle.loads(pickle.dumps(a))
    for _ in range(4):
        x = a(16, "cpu")
        assert torch.equal(x, b(16, "cpu")) and torch.equal(x, c(16, "cpu"))


def _state(run_dir):
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    return checkpoint_state(run_dir), ckpt["ganbench"]["real_sampler"]


def test_resume_with_a_finite_training_set_is_exact(tmp_path):
    overrides = [
        "trainer.enable_progress_bar=false", "model=pacgan_mlp", "model.discriminator.packing=2",
        "dataset.train_size=150", "batch_size=32", "n_critic=2", "iterations=20", "checkpoint.every=10",
        "eval.every=10", "evaluator.num_samples=200", "log_every=5",
    ]  # fmt: skip
    full = tmp_path / "full"
    assert run(compose(overrides), full)["status"] == "completed"
    state, sampler = _state(full)
    assert sampler["position"] == 20 * 2 * 32  # n_critic real batches of 32 per iteration: 8.5 epochs of 150
    # the same run, crashed after iteration 10 and resumed from its periodic checkpoint
    resumed = tmp_path / "resumed"
    shutil.copytree(full, resumed)
    shutil.copy(resumed / "checkpoints" / "iter000010.ckpt", resumed / "checkpoints" / "last.ckpt")
    (resumed / "checkpoints" / "iter000020.ckpt").unlink()
    summary = json.loads((resumed / "summary.json").read_text())
    (resumed / "summary.json").write_text(json.dumps({**summary, "status": "running", "metrics": {}}))
    out = run(compose([*overrides, f"resume={resumed}"]), resumed)
    assert out["status"] == "completed" and out["resumed_from"] == 10
    again, sampler_again = _state(resumed)
    assert sampler_again == sampler
    assert_same_state(state, again)
    assert out["metrics"] == json.loads((full / "summary.json").read_text())["metrics"]
