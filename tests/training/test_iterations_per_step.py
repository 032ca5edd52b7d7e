"""Several GAN iterations per Lightning step (toy data sampled on the device) change nothing but speed."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from ganbench.config import compose
from ganbench.data.toy import DeviceSampler, GaussianMixture2D, ring_centers
from ganbench.experiment import run
from ganbench.losses import NonSaturatingLoss
from ganbench.models import MLPDiscriminator, MLPGenerator
from ganbench.training import GANModule
from helpers import assert_same_state, checkpoint_state

# Periods that do not divide each other, n_critic > 1, a scheduler, a penalty and the EMA.
BASE = [
    "trainer.enable_progress_bar=false",
    "iterations=37",
    "eval.every=15",
    "evaluator.num_samples=200",
    "checkpoint.every=10",
    "log_every=4",
    "n_critic=2",
    "batch_size=32",
    "regularizer=gp",
    "loss=wasserstein",
    "ema.decay=0.9",
    "+optimizer.scheduler={_target_: torch.optim.lr_scheduler.StepLR, _partial_: true, step_size: 7, gamma: 0.9}",
]


def _module(k: int, boundaries=()) -> GANModule:
    return GANModule(
        MLPGenerator(hidden_dim=8, num_layers=1),
        MLPDiscriminator(hidden_dim=8, num_layers=1),
        NonSaturatingLoss(),
        g_optimizer=torch.optim.SGD,
        d_optimizer=torch.optim.SGD,
        real_sampler=DeviceSampler(GaussianMixture2D(ring_centers(), 0.01), 1),
        iterations_per_step=k,
        step_boundaries=boundaries,
    )


def _steps(module: GANModule, last: int) -> list[tuple[int, int]]:
    """The (first, last) iterations of each training step of a run of ``last`` iterations."""
    module._trainer = SimpleNamespace(max_steps=last * module.steps_per_iteration)
    out, first = [], 1
    while first <= last:
        n = module.iterations_in_step(first)
        out.append((first, first + n - 1))
        first += n
    return out


def test_steps_end_on_every_boundary_and_at_the_last_iteration():
    # k = 10, evaluations every 25, checkpoints every 40, 57 iterations: worked out by hand
    assert _steps(_module(10, (25, 40, None)), 57) == [
        (1, 10), (11, 20), (21, 25), (26, 30), (31, 40), (41, 50), (51, 57),
    ]  # fmt: skip
    assert _steps(_module(1, (25,)), 4) == [(1, 1), (2, 2), (3, 3), (4, 4)]
    assert _steps(_module(8), 5) == [(1, 5)]


def test_data_loader_runs_stay_one_iteration_per_step():
    module = _module(10)
    module.real_sampler = None
    module._trainer = SimpleNamespace(max_steps=100)
    assert module.iterations_in_step(1) == 1


def test_iterations_per_step_is_validated():
    with pytest.raises(ValueError, match="iterations_per_step"):
        _module(0)


def _rows(run_dir: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(open(run_dir / "metrics.csv")))


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[int, Path]:
    out = {}
    for k in (1, 10):
        out[k] = tmp_path_factory.mktemp(f"k{k}") / "run"
        summary = run(compose([*BASE, f"iterations_per_step={k}"]), out[k])
        assert summary["status"] == "completed", summary
    return out


def test_grouping_iterations_into_steps_gives_the_same_run(runs):
    one, grouped = checkpoint_state(runs[1]), checkpoint_state(runs[10])
    assert_same_state(one, grouped)
    assert one["global_step"].item() == 37 * 3
    rows_one, rows_grouped = _rows(runs[1]), _rows(runs[10])
    assert rows_one == rows_grouped
    # the metrics are logged at the same iterations: 1, every 4th, the evaluations, the last
    logged = sorted({int(r["iteration"]) for r in rows_one if r.get("d_loss")})
    assert logged == [1, *range(4, 37, 4), 37]
    evaluated = sorted(int(r["iteration"]) for r in rows_one if r.get("modes_captured"))
    assert evaluated == [15, 30, 37]
    s1, s10 = (json.loads((runs[k] / "summary.json").read_text()) for k in (1, 10))
    assert s1["metrics"] == s10["metrics"] and s1["iterations"] == s10["iterations"] == 37


def test_checkpoints_and_plots_land_on_their_iterations(runs):
    for k in (1, 10):
        names = sorted(p.name for p in (runs[k] / "checkpoints").iterdir())
        assert names == ["iter000010.ckpt", "iter000020.ckpt", "iter000030.ckpt", "last.ckpt"], k
        for name, iteration in (("iter000010.ckpt", 10), ("iter000030.ckpt", 30)):
            ckpt = torch.load(runs[k] / "checkpoints" / name, map_location="cpu", weights_only=False)
            assert ckpt["ganbench"]["iteration"] == iteration and ckpt["global_step"] == 3 * iteration
        plots = sorted(p.name for p in (runs[k] / "plots").iterdir())
        assert plots == ["samples_000015.png", "samples_000030.png", "samples_000037.png"], k


def test_resume_from_a_grouped_run_matches_the_uninterrupted_one(runs, tmp_path):
    """Resume at iteration 20 (a checkpoint inside the grouped run) and finish: bit-identical."""
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(runs[10], run_dir)
    ckpts = run_dir / "checkpoints"
    shutil.copyfile(ckpts / "iter000020.ckpt", ckpts / "last.ckpt")
    (ckpts / "iter000030.ckpt").unlink()
    summary = json.loads((run_dir / "summary.json").read_text())
    summary["status"] = "interrupted"
    (run_dir / "summary.json").write_text(json.dumps(summary))
    resumed = run(compose([*BASE, "iterations_per_step=10", f"resume={run_dir}"]), run_dir)
    assert resumed["status"] == "completed" and resumed["resumed_from"] == 20
    assert_same_state(checkpoint_state(runs[1]), checkpoint_state(run_dir))
    key = lambda r: (int(r["step"]), sorted(r.items()))  # noqa: E731
    resumed_rows, reference = sorted(_rows(run_dir), key=key), sorted(_rows(runs[1]), key=key)
    assert len(resumed_rows) == len(reference)
    for x, y in zip(resumed_rows, reference):
        assert {k: v for k, v in x.items() if v} == {k: v for k, v in y.items() if v}
