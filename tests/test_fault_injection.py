"""Fault injection: a run is stopped by SIGINT, SIGTERM or SIGKILL at start-up (while ganbench builds
the run, and in Lightning's set-up), in the middle of an iteration, during an evaluation, during a
checkpoint write and after the final checkpoint; then it is resumed as a user would (the command it
printed, pasted into a shell; after SIGKILL, which prints nothing, the same command again), and must
end exactly as the same run never interrupted: the same metrics in summary.json, the same
metrics.csv and the same final checkpoint.

Every run has the progress bar on (the default), in a directory whose path holds a space, a
non-ASCII character and a quote. The signal is sent by the run itself at the chosen point
(tests/fault_injection_driver.py), so no case depends on timing. A few cases run by default; the
whole grid is marked ``slow`` (``pytest -m slow``; .ci/run runs both).
"""

from __future__ import annotations

import csv
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ganbench.rundir import hydra_quoted, override_argument
from helpers import assert_same_state, checkpoint_state

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "fault_injection_driver.py"
BIN = Path(sys.executable).parent  # ganbench-train of this environment
# Short runs with every kind of state: periodic checkpoints and evaluations, Adam moments, the EMA.
RUN = ["iterations=40", "checkpoint.every=10", "eval.every=20", "evaluator.num_samples=300", "log_every=5"]
EXIT = {"SIGINT": 130, "SIGTERM": 143, "SIGKILL": -9}
POINTS = ("building", "start-up", "mid-iteration", "evaluation", "checkpoint-write", "after-final-checkpoint")
FAST = {("start-up", "SIGINT"), ("mid-iteration", "SIGTERM"), ("after-final-checkpoint", "SIGKILL")}


def fake_srun() -> Path:
    """A directory holding an ``srun`` (as on a cluster's login node, where Lightning warns about it)."""
    folder = Path(tempfile.mkdtemp(prefix="fake-slurm-"))
    (folder / "srun").write_text("#!/bin/sh\nexit 1\n")
    (folder / "srun").chmod(0o755)
    return folder


SRUN = fake_srun()


def environment() -> dict[str, str]:
    return {
        **os.environ,
        "PATH": os.pathsep.join([str(BIN), str(SRUN), os.environ.get("PATH", "")]),
        "PYTHONPATH": str(HERE.parent / "src"),
        "OMP_NUM_THREADS": "1",
    }


def shell(command: str, cwd: Path) -> subprocess.CompletedProcess:
    """``command`` run by bash, as a user pastes it."""
    return subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=environment(), capture_output=True, text=True, timeout=600
    )


def train_command(run_dir: Path, *extra: str) -> str:
    return shlex.join(["ganbench-train", *RUN, *extra]) + " " + override_argument("hydra.run.dir", str(run_dir))


def metric_rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return sorted(rows, key=lambda r: (int(r["step"]), sorted(r.items())))


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def assert_same_run(reference: Path, run_dir: Path) -> None:
    ref, got = summary(reference), summary(run_dir)
    assert got["status"] == "completed", got
    assert got["metrics"] == ref["metrics"] and got["iterations"] == ref["iterations"] == 40
    assert got["evaluated_at"] == ref["evaluated_at"] == 40
    assert metric_rows(run_dir) == metric_rows(reference)
    assert_same_state(checkpoint_state(reference), checkpoint_state(run_dir))
    assert not list(run_dir.rglob("*.tmp")), "a partial file stayed behind"


@pytest.fixture(scope="module")
def odd_dir(tmp_path_factory) -> Path:
    """A parent directory whose path has a space, a non-ASCII character and a quote."""
    path = tmp_path_factory.mktemp("faults") / "runs ü'q"
    path.mkdir()
    return path


@pytest.fixture(scope="module")
def uninterrupted(odd_dir) -> Path:
    run_dir = odd_dir / "uninterrupted"
    done = shell(train_command(run_dir), cwd=odd_dir)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return run_dir


def interrupt_and_resume(point: str, signame: str, run_dir: Path, *extra: str) -> None:
    """Stop the run with ``signame`` at ``point``, then resume it as a user would."""
    cwd = run_dir.parent
    args = [*RUN, *extra, f"hydra.run.dir={hydra_quoted(str(run_dir))}"]
    first = subprocess.run(
        [sys.executable, str(DRIVER), point, signame, *args],
        cwd=cwd,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = first.stdout + first.stderr
    assert "Traceback" not in out, out[-3000:]
    # only ganbench's own bar, and no advice about srun (ganbench does SLURM itself)
    assert "Training:" not in out and "Epoch 0" not in out and "srun" not in out, out[-3000:]
    if signame == "SIGKILL":
        assert first.returncode == -9, out[-3000:]
        again = shell(train_command(run_dir, *extra), cwd=cwd)  # the same command continues the run
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
        return
    record = summary(run_dir)
    if point == "after-final-checkpoint":  # nothing was left to do: the run completed
        assert first.returncode == 0 and record["status"] == "completed", out[-3000:]
        return
    assert first.returncode == EXIT[signame], out[-3000:]
    assert record["status"] == "interrupted" and record["signal"] == signame, record
    if point in ("building", "start-up"):
        assert record["reason"] == f"{signame} during start-up" and record["iterations"] == 0
    printed = [line for line in first.stdout.splitlines() if "resume with: " in line]
    assert len(printed) == 1, out[-3000:]
    command = printed[0].split("resume with: ", 1)[1]
    resumed = shell(command, cwd=Path.home() if Path.home().is_dir() else cwd)  # from anywhere
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "Traceback" not in resumed.stderr


CASES = [
    pytest.param(point, signame, marks=() if (point, signame) in FAST else pytest.mark.slow, id=f"{point}-{signame}")
    for point in POINTS
    for signame in EXIT
]


@pytest.mark.parametrize("point, signame", CASES)
def test_a_stopped_run_resumes_to_the_uninterrupted_result(uninterrupted, odd_dir, point, signame):
    run_dir = odd_dir / f"{point} {signame}"
    interrupt_and_resume(point, signame, run_dir)
    assert_same_run(uninterrupted, run_dir)


@pytest.mark.slow
def test_with_the_progress_bar_off_too(odd_dir, tmp_path):
    """The bar-off variant: reference and stopped run both without the bar."""
    reference = odd_dir / "uninterrupted, no bar"
    done = shell(train_command(reference, "trainer.enable_progress_bar=false"), cwd=odd_dir)
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = odd_dir / "mid-iteration, no bar"
    interrupt_and_resume("mid-iteration", "SIGINT", run_dir, "trainer.enable_progress_bar=false")
    assert_same_run(reference, run_dir)
