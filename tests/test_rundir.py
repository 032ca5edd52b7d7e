"""One owner per run directory, and checkpoints that are read without running code."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ganbench.config import compose
from ganbench.experiment import run
from ganbench.rundir import CheckpointError, RunDirBusyError, RunDirLock, load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
SHORT = ["trainer.enable_progress_bar=false", "iterations=20", "eval.every=10", "log_every=5", "checkpoint.every=10"]


def cli(*args: str, cwd: Path | None = None, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "ganbench.train", *args], env=env, cwd=cwd, capture_output=True, text=True, **kw
    )


def test_a_second_owner_is_refused_at_once_naming_the_holder(tmp_path):
    run_dir = tmp_path / "run"
    with RunDirLock(run_dir):
        start = time.perf_counter()
        with pytest.raises(RunDirBusyError) as err:
            run(compose(SHORT), run_dir)
        assert time.perf_counter() - start < 10
        assert str(run_dir) in str(err.value) and f"pid {os.getpid()}" in str(err.value)
        assert sorted(p.name for p in run_dir.iterdir()) == [".ganbench.lock"]  # nothing else was written
    assert not (run_dir / ".ganbench.lock").exists()  # released and removed


HOLD = """
import sys, time
from ganbench.rundir import RunDirLock
lock = RunDirLock(sys.argv[1]); lock.acquire()
print("held", flush=True)
time.sleep(600)
"""


def test_a_lock_left_by_sigkill_does_not_block_the_next_run(tmp_path):
    run_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], env=env, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(RunDirBusyError, match=f"pid {holder.pid}"):
        RunDirLock(run_dir).acquire()
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    assert (run_dir / ".ganbench.lock").exists()  # the stale file is still there …
    with RunDirLock(run_dir):  # … and does not block
        pass


def test_two_processes_on_one_directory_one_is_refused_with_exit_2(tmp_path):
    run_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    args = [sys.executable, "-m", "ganbench.train", *SHORT, "iterations=3000", "checkpoint.every=null",
            "eval.every=null", f"hydra.run.dir={run_dir}"]  # fmt: skip
    first = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (run_dir / "summary.json").exists():
            time.sleep(0.05)
        second = cli(*SHORT, "loss=hinge", f"hydra.run.dir={run_dir}", timeout=120)
        assert second.returncode == 2
        assert "in use by another ganbench process" in second.stderr and "Traceback" not in second.stderr
        assert json.loads((run_dir / "summary.json").read_text())["objective"]["loss"] == "nonsaturating"
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=120)


class _Exploit:
    """Unpickling this runs code: it creates a marker file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    summary = run(compose(SHORT), run_dir)
    assert summary["status"] == "completed"
    return run_dir


def test_a_pickle_payload_in_last_ckpt_does_not_run(finished_run, tmp_path):
    run_dir = tmp_path / "run dir"  # a space: the printed command must be quoted
    shutil.copytree(finished_run, run_dir)
    marker = tmp_path / "pwned"
    with open(run_dir / "checkpoints" / "last.ckpt", "wb") as f:
        pickle.dump({"state_dict": _Exploit(str(marker))}, f)
    summary = json.loads((run_dir / "summary.json").read_text())
    (run_dir / "summary.json").write_text(json.dumps({**summary, "status": "running"}))  # as after a SIGKILL

    done = cli(f"resume={run_dir}", timeout=120)
    assert not marker.exists()
    assert done.returncode == 2, done.stderr
    (line,) = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert "cannot be read safely" in line and "iter000020.ckpt" in line
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "failed"
    # the printed command works as given, in a shell, with the space in the path
    command = line.split("resume from it with: ", 1)[1]
    shell = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=120,
                           env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
                                "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"})  # fmt: skip
    assert shell.returncode == 0, shell.stdout[-2000:] + shell.stderr[-2000:]


def test_a_corrupt_checkpoint_names_the_newest_intact_one(finished_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    last = run_dir / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[:1000])  # truncated
    with pytest.raises(CheckpointError, match=r"iter000020\.ckpt.*resume="):
        load_checkpoint(last)
    assert load_checkpoint(run_dir / "checkpoints" / "iter000020.ckpt")["ganbench"]["iteration"] == 20


def test_checkpoints_load_with_weights_only(finished_run):
    state = torch.load(finished_run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert state["ganbench"]["iteration"] == 20
