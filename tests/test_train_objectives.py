"""Every objective of conf/loss/ (and the DRAGAN, R2 and one-sided penalties) trains end to end
from the CLI config: 20 iterations, finite losses, a completed summary."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from ganbench.paths import conf_dir

LOSSES = sorted(p.stem for p in (conf_dir() / "loss").glob("*.yaml"))
# the new penalties ride along with some losses instead of adding runs of their own
REGULARIZER = {"wasserstein": "lp", "fgan_js": "dragan", "rahinge": "r2"}
SHORT = ["iterations=20", "batch_size=64", "eval.every=20", "evaluator.num_samples=200", "log_every=5", "dataset=ring"]


def test_every_new_objective_has_a_config():
    expected = {"rsgan", "rasgan", "rlsgan", "ralsgan", "rhinge", "rahinge", "least_squares_pearson"}
    expected |= {f"fgan_{d}" for d in ("kl", "reverse_kl", "pearson", "hellinger", "js")}
    assert expected <= set(LOSSES)
    assert {"dragan", "r2", "lp"} <= {p.stem for p in (conf_dir() / "regularizer").glob("*.yaml")}


@pytest.mark.parametrize("loss", LOSSES)
def test_objective_trains_from_config(train, loss):
    reg = REGULARIZER.get(loss, "none")
    summary, run_dir = train(f"loss={loss}", f"regularizer={reg}", *SHORT)
    check_run(summary, run_dir, loss, reg)


def test_label_smoothing_from_the_command_line(train):
    summary, run_dir = train("loss=nonsaturating", "+loss.real_label=0.9", *SHORT)
    check_run(summary, run_dir, "nonsaturating", "none")
    assert OmegaConf.load(run_dir / "config.yaml").loss.real_label == 0.9


def check_run(summary: dict, run_dir: Path, loss: str, reg: str) -> None:
    assert summary["status"] == "completed" and summary["iterations"] == 20
    assert summary["choices"]["loss"] == loss and summary["choices"]["regularizer"] == reg
    logged = [r for r in csv.DictReader(open(run_dir / "metrics.csv")) if r.get("d_loss")]
    assert [int(float(r["iteration"])) for r in logged] == [1, 5, 10, 15, 20]
    for row in logged:
        assert math.isfinite(float(row["d_loss"])) and math.isfinite(float(row["g_loss"])), row
    penalties = [float(r["regularizer"]) for r in logged]
    assert all(p > 0 for p in penalties) if reg in ("dragan", "r2") else all(p >= 0 for p in penalties)
    # the final evaluation ran on the generated samples
    assert summary["metrics"] and all(math.isfinite(float(v)) for v in summary["metrics"].values())
