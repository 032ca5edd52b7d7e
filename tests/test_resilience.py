"""Exact resume, interruptions, SIGKILL and divergence, on CPU."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ganbench.config import compose
from ganbench.errors import ConfigError
from ganbench.experiment import run
from ganbench.rundir import resume_command
from helpers import assert_same_state, checkpoint_state

ROOT = Path(__file__).resolve().parents[1]
# Short, deterministic runs that exercise every piece of state: both optimisers (Adam moments), an LR
# scheduler, the EMA, the GP's random interpolation, latents, the real-data stream and n_critic > 1.
BASE = [
    "iterations=40",
    "checkpoint.every=10",
    "eval.every=20",
    "evaluator.num_samples=300",
    "log_every=5",
    "n_critic=2",
    "batch_size=64",
    "regularizer=gp",
    "loss=wasserstein",
    "ema.decay=0.9",
    "+optimizer.scheduler={_target_: torch.optim.lr_scheduler.StepLR, _partial_: true, step_size: 7, gamma: 0.9}",
]


def cli(*args: str, env: dict[str, str] | None = None, **kw) -> subprocess.Popen:
    env = {**(env or os.environ), "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "ganbench.train", *args], env=env, **kw)


def metric_rows(run_dir: Path) -> list[dict[str, str]]:
    rows = list(csv.DictReader(open(run_dir / "metrics.csv")))
    return sorted(rows, key=lambda r: (int(r["step"]), sorted(r.items())))


def assert_same_run(a: Path, b: Path) -> None:
    assert_same_state(checkpoint_state(a), checkpoint_state(b))
    ra, rb = metric_rows(a), metric_rows(b)
    assert [r["step"] for r in ra] == [r["step"] for r in rb]
    for x, y in zip(ra, rb):
        for k in x:
            if k.endswith("grad_norm") or k in ("step", "iteration") or not x[k]:
                assert x[k] == y.get(k, x[k]), k
            else:
                assert float(x[k]) == float(y[k]), (k, x["step"])
    ja, jb = (json.loads((d / "summary.json").read_text()) for d in (a, b))
    assert ja["metrics"] == jb["metrics"] and ja["iterations"] == jb["iterations"] == 40


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    """The reference: the same command, never interrupted (same process setup as the resumed runs, so
    floating-point reductions use the same thread count)."""
    run_dir = tmp_path_factory.mktemp("full") / "run"
    proc = cli(*BASE, f"hydra.run.dir={run_dir}", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"
    return run_dir


def test_sigterm_checkpoints_then_resume_matches_uninterrupted(uninterrupted, tmp_path):
    run_dir = tmp_path / "run"
    # SIGTERM arrives while training runs, right after the first periodic checkpoint.
    proc = cli(*BASE, f"hydra.run.dir={run_dir}", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 240
    while time.time() < deadline and not (run_dir / "checkpoints" / "iter000010.ckpt").exists():
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=240)
    summary = json.loads((run_dir / "summary.json").read_text())
    if summary["status"] == "completed":  # the run beat the signal: the machine was fast
        pytest.skip("the run finished before SIGTERM arrived")
    assert proc.returncode == 143, out
    assert summary["status"] == "interrupted" and summary["reason"].startswith("SIGTERM"), summary
    k = summary["iterations"]
    assert 10 <= k < 40
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["global_step"] == 3 * k  # the checkpoint is at an iteration boundary
    assert f"resume with: {resume_command(run_dir)}" in out  # quoted for the shell and for Hydra

    resumed = cli(f"resume={run_dir}", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out, _ = resumed.communicate(timeout=240)
    assert resumed.returncode == 0, out
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["resumed_from"] == k
    assert_same_run(uninterrupted, run_dir)


def test_sigkill_loses_only_iterations_since_last_checkpoint(uninterrupted, tmp_path):
    run_dir = tmp_path / "run"
    proc = cli(
        *BASE, f"hydra.run.dir={run_dir}", "checkpoint.every=10", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 240
    while time.time() < deadline and not (run_dir / "checkpoints" / "iter000020.ckpt").exists():
        time.sleep(0.02)
    proc.kill()
    proc.wait(timeout=60)
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    k = ckpt["ganbench"]["iteration"]
    if k == 40:
        pytest.skip("the run finished before SIGKILL arrived")
    assert k in (20, 30)
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "running"
    # The same command again resumes automatically from the run directory's last checkpoint.
    again = cli(
        *BASE,
        f"hydra.run.dir={run_dir}",
        "checkpoint.every=10",
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    out, _ = again.communicate(timeout=240)
    assert again.returncode == 0, out
    assert json.loads((run_dir / "summary.json").read_text())["resumed_from"] == k
    assert_same_run(uninterrupted, run_dir)


def test_resume_from_a_periodic_checkpoint(uninterrupted, tmp_path):
    # The uninterrupted run as it was when a crash hit it between iterations 20 and 30.
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(uninterrupted, run_dir)
    shutil.copy(run_dir / "checkpoints" / "iter000020.ckpt", run_dir / "checkpoints" / "last.ckpt")
    for p in ("iter000030.ckpt", "iter000040.ckpt"):
        (run_dir / "checkpoints" / p).unlink()
    summary = json.loads((run_dir / "summary.json").read_text())
    (run_dir / "summary.json").write_text(json.dumps({**summary, "status": "running", "metrics": {}}))
    proc = cli(f"resume={run_dir}", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["resumed_from"] == 20
    assert_same_run(uninterrupted, run_dir)


def test_resuming_a_completed_run_changes_nothing(uninterrupted, tmp_path):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(uninterrupted, run_dir)
    before = (run_dir / "checkpoints" / "last.ckpt").read_bytes()
    summary = run(compose([*BASE, f"resume={run_dir}"]), run_dir)
    assert summary["status"] == "completed" and summary["iterations"] == 40
    assert (run_dir / "checkpoints" / "last.ckpt").read_bytes() == before


def test_a_different_config_never_overwrites_a_run(uninterrupted, tmp_path):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(uninterrupted, run_dir)
    with pytest.raises(ValueError, match="different run.*loss"):
        run(compose([*BASE, "loss=hinge"]), run_dir)


def test_resume_needs_a_checkpoint(tmp_path):
    (tmp_path / "config.yaml").write_text("seed: 0\n")
    with pytest.raises(ConfigError, match="last.ckpt"):
        run(compose([*BASE, f"resume={tmp_path}"]), tmp_path)


def test_divergence_stops_within_the_iteration_and_keeps_the_last_good_checkpoint(tmp_path):
    # Adam's first step moves every weight by ±lr: with lr 1e13 the generator's weights reach 1e13 after
    # iteration 1, and its three layers overflow float32 in iteration 2, whatever the machine.
    run_dir = tmp_path / "run"
    cfg = compose(
        [
            "trainer.enable_progress_bar=false",
            "loss=wasserstein",
            "optimizer.generator.lr=1e13",
            "iterations=400",
            "checkpoint.every=1",
            "log_every=1000",
        ]
    )
    summary = run(cfg, run_dir)
    assert summary["status"] == "diverged", summary
    bad_iteration = int(summary["reason"].split("at iteration ")[1])
    assert summary["reason"].startswith("non-finite")
    assert bad_iteration == 2
    assert summary["iterations"] == bad_iteration - 1 and summary["diverged_at"] == bad_iteration
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["ganbench"]["iteration"] == bad_iteration - 1
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values())


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and not path.exists() and proc.poll() is None:
        time.sleep(0.02)


def scontrol_stand_in(tmp_path: Path) -> tuple[Path, Path]:
    """A ``scontrol`` that records how it was called and then does what SLURM does to a job it
    requeues, at the worst moment: SIGTERM to every process of the job, the training process (its
    parent) and this ``scontrol`` itself, before it has exited. Returns (its directory, the calls file)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "scontrol.calls"
    (bin_dir / "scontrol").write_text(f'#!/bin/sh\necho "$@" >> {calls}\nkill -TERM $PPID $$\nexit 0\n')
    (bin_dir / "scontrol").chmod(0o755)
    return bin_dir, calls


def test_slurm_time_limit_signal_requeues_and_the_requeued_job_resumes(uninterrupted, tmp_path):
    # SLURM_JOB_ID is what a requeued job keeps.
    bin_dir, calls = scontrol_stand_in(tmp_path)
    env = {**os.environ, "SLURM_JOB_ID": "4242", "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    env.pop("SLURM_ARRAY_JOB_ID", None)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    run_dir = cwd / "runs" / "ring" / "wasserstein" / "slurm-4242"  # from the job id, not the time
    kw = dict(env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    proc = cli(*BASE, **kw)
    _wait_for(run_dir / "checkpoints" / "iter000010.ckpt", proc)
    proc.send_signal(signal.SIGUSR1)  # `#SBATCH --signal=SIGUSR1@120`: the time limit is near
    out, _ = proc.communicate(timeout=240)
    summary = json.loads((run_dir / "summary.json").read_text())
    if summary["status"] == "completed":
        pytest.skip("the run finished before SIGUSR1 arrived")
    assert proc.returncode == 138, out
    assert summary["status"] == "interrupted" and summary["reason"].startswith("SIGUSR1"), summary
    assert calls.read_text().split() == ["requeue", "4242"]
    assert "requeued SLURM job 4242" in out
    k = summary["iterations"]
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["ganbench"]["iteration"] == k

    # SLURM starts the same batch script again: same command, same job id, so the same run directory.
    again = cli(*BASE, **kw)
    out, _ = again.communicate(timeout=240)
    assert again.returncode == 0, out
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["resumed_from"] == k
    assert len(list((cwd / "runs" / "ring" / "wasserstein").iterdir())) == 1
    assert_same_run(uninterrupted, run_dir)


SUBMITIT_STAND_IN = """
import os, signal, sys
from submitit.slurm.slurm import SlurmJobEnvironment

def checkpoint_and_requeue(signum, frame):  # what submitit's handler does: resubmit, then exit
    SlurmJobEnvironment()._requeue(countdown=3)  # submitit's own `scontrol requeue $SLURM_JOB_ID`
    open(os.environ["REQUEUE_MARKER"], "w").write(signal.Signals(signum).name)
    sys.exit(-1)

signal.signal(signal.SIGUSR2, checkpoint_and_requeue)
from ganbench.train import main
main()
"""


def test_submitit_preemption_signal_checkpoints_first_then_hands_over(uninterrupted, tmp_path):
    script = tmp_path / "job.py"
    script.write_text(SUBMITIT_STAND_IN)
    marker = tmp_path / "requeued"
    run_dir = tmp_path / "run"
    bin_dir, calls = scontrol_stand_in(tmp_path)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "OMP_NUM_THREADS": "1",
        "SUBMITIT_EXECUTOR": "slurm",
        "SLURM_JOB_ID": "4343",
        "REQUEUE_MARKER": str(marker),
    }
    args = [sys.executable, str(script), *BASE, f"hydra.run.dir={run_dir}"]
    kw = dict(env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    proc = subprocess.Popen(args, **kw)
    _wait_for(run_dir / "checkpoints" / "iter000010.ckpt", proc)
    proc.send_signal(signal.SIGUSR2)
    out, _ = proc.communicate(timeout=240)
    summary = json.loads((run_dir / "summary.json").read_text())
    if summary["status"] == "completed":
        pytest.skip("the run finished before SIGUSR2 arrived")
    # ganbench stopped at an iteration boundary and saved, and only then did the launcher's handler run
    assert summary["status"] == "interrupted" and summary["reason"].startswith("SIGUSR2"), out
    # submitit's requeue went through although SLURM's SIGTERM reached scontrol and the job first
    assert marker.exists() and marker.read_text() == "SIGUSR2", out
    assert calls.read_text().split() == ["requeue", "4343"]
    assert "SIGUSR2: handing over to the job launcher" in out
    assert proc.returncode == 255, out
    k = summary["iterations"]
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["ganbench"]["iteration"] == k and ckpt["global_step"] == 3 * k

    again = subprocess.run(args, timeout=240, **kw)
    assert again.returncode == 0, again.stdout
    assert json.loads((run_dir / "summary.json").read_text())["resumed_from"] == k
    assert_same_run(uninterrupted, run_dir)


def test_run_directory_names_follow_the_slurm_job(monkeypatch):
    from ganbench.slurm import run_dir_name

    for var in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID"):
        monkeypatch.delenv(var, raising=False)
    assert run_dir_name("2026-11-23_10-00-00") == "2026-11-23_10-00-00"
    monkeypatch.setenv("SLURM_JOB_ID", "777")
    assert run_dir_name("2026-11-23_10-00-00") == "slurm-777"
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "700")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    assert run_dir_name("2026-11-23_10-00-00") == "slurm-700_3"
