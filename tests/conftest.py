"""Shared fixtures: compose a config and run a short training job in a temporary directory; the
command-line option of the loss tests. Plain helpers shared by several modules are in helpers.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("WANDB_MODE", "disabled")
# OMP_NUM_THREADS, when set, wins: two threads on a busy 2-core machine run these small tensor ops ~10x slower.
torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or max(1, min(2, os.cpu_count() or 1))))

from ganbench.config import compose  # noqa: E402
from ganbench.experiment import run  # noqa: E402

QUIET = ["trainer.enable_progress_bar=false"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--loss-config-dir",
        default=None,
        help="config directory whose loss/*.yaml the loss tests (tests/losses) run on; default: ganbench's conf/",
    )


@pytest.fixture
def train(tmp_path: Path):
    """``train(*overrides)`` runs ganbench in a fresh run directory and returns (summary, run_dir)."""
    counter = {"n": 0}

    def _train(*overrides: str):
        counter["n"] += 1
        run_dir = tmp_path / f"run{counter['n']}"
        cfg = compose([*QUIET, *overrides])
        return run(cfg, run_dir), run_dir

    return _train


@pytest.fixture(autouse=True, scope="session")
def ganbench_cache(tmp_path_factory) -> Path:
    """One cache of real statistics and domain classifiers for the whole session, never the user's."""
    path = tmp_path_factory.mktemp("ganbench_cache")
    old = os.environ.get("GANBENCH_CACHE")
    os.environ["GANBENCH_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("GANBENCH_CACHE", None)
    else:
        os.environ["GANBENCH_CACHE"] = old


@pytest.fixture(autouse=True)
def wandb_state_does_not_leak():
    """W&B keeps one process-wide setup, with the environment it read when first used: a test that
    changes ``WANDB_MODE`` after another test used W&B in the same process would get the earlier
    mode. Each test that used W&B tears that setup down when it ends."""
    yield
    import sys

    if "wandb" in sys.modules:
        from wandb.sdk import wandb_setup

        if getattr(wandb_setup, "_singleton", None) is not None:
            sys.modules["wandb"].teardown()
