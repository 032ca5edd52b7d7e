"""Helpers of the ``slurm`` tests: finding the cluster, running commands, comparing runs."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "slurm_cluster.sh"
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
TIMEOUT_MIN = 2  # the requeue jobs' time limit: 120 s >= SIGNAL_DELAY_S + 60 s + start-up (15 s)
SIGNAL_DELAY_S = 45  # SLURM signals 45-105 s before the limit (it checks limits periodically)


def find_cluster() -> tuple[dict[str, str] | None, str]:
    """The environment that reaches the cluster (``SLURM_CONF`` set), or None and why not."""
    env = dict(os.environ)
    start_error = os.environ.get("GANBENCH_SLURM_START_ERROR")
    if start_error:
        return None, f"scripts/slurm_cluster.sh start failed: {start_error.strip()[-2000:]}"
    if "SLURM_CONF" not in env:
        try:
            proc = subprocess.run([str(SCRIPT), "status"], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.SubprocessError) as err:
            return None, f"{SCRIPT.name} status could not run ({err})"
        found = re.search(r"export SLURM_CONF=(\S+)", proc.stdout)
        if proc.returncode != 0 or not found:
            return (
                None,
                f"SLURM_CONF is not set and {SCRIPT.name} status says: {proc.stdout.strip()} {proc.stderr.strip()}",
            )
        env["SLURM_CONF"] = found.group(1)
    try:
        ping = subprocess.run(["scontrol", "ping"], env=env, capture_output=True, text=True, timeout=60)
        nodes = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], env=env, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as err:
        return None, f"the SLURM client commands do not run ({err})"
    if ping.returncode != 0 or "UP" not in ping.stdout:
        return (
            None,
            f"slurmctld does not answer (SLURM_CONF={env['SLURM_CONF']}): {ping.stdout.strip()} {ping.stderr.strip()}",
        )
    if not re.search(r"^(idle|mixed|allocated|completing)", nodes.stdout, re.M):
        return None, f"no usable node: sinfo says {nodes.stdout.strip()!r} {nodes.stderr.strip()}"
    return env, ""


def run(cmd: list[str] | str, env: dict[str, str], cwd: Path, timeout: float = 600, check: bool = True) -> str:
    """Run a command (a string runs through bash); its stdout + stderr. ``check``: exit code 0."""
    proc = subprocess.run(
        cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, shell=isinstance(cmd, str),
        executable="/bin/bash" if isinstance(cmd, str) else None,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert not check or proc.returncode == 0, f"{cmd} exited {proc.returncode}:\n{out[-6000:]}"
    return out


def train_cmd() -> list[str]:
    """``ganbench-train`` of this environment."""
    script = BIN / "ganbench-train"
    return [str(script)] if script.exists() else [sys.executable, "-m", "ganbench.train"]


def sweep_dir_of(output: str) -> Path:
    """The sweep directory the submitit launcher announced."""
    found = re.search(r"sweep output dir : (\S+)", output)
    assert found, output[-3000:]
    return Path(found.group(1))


def job_logs(sweep: Path, tail: int = 4000) -> str:
    """The end of each submitit job log of ``sweep`` (what the job printed and SLURM's messages),
    to show with a failed assertion."""
    logs = sorted(sweep.glob(".submitit/*/*_log.*"))
    return "\n".join(f"== {p.relative_to(sweep)}\n{p.read_text(errors='replace')[-tail:]}" for p in logs)


def summary(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / "summary.json").read_text())


def metrics_rows(run_dir: Path) -> list[dict[str, str]]:
    with open(Path(run_dir) / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def assert_same_run(got: Path, want: Path) -> None:
    """Two completed runs with the same iterations, final metrics, every metrics.csv cell and
    checkpoint state (both players, EMA, optimisers), bit for bit."""
    from helpers import assert_same_state, checkpoint_state

    a, b = summary(got), summary(want)
    assert a["status"] == b["status"] == "completed", (a, b)
    assert a["iterations"] == b["iterations"]
    assert a["metrics"] == b["metrics"]
    assert metrics_rows(got) == metrics_rows(want)
    assert_same_state(checkpoint_state(got), checkpoint_state(want))


def wait_until(condition: Callable[[], object], timeout: float, what: str, poll: float = 0.5) -> object:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


def readme_block(starts_with: str) -> str:
    """The README code block whose text starts with ``starts_with``, as printed."""
    for block in re.findall(r"^```[\w-]*\n(.*?)^```", README.read_text(), re.S | re.M):
        if block.startswith(starts_with):
            return block
    raise AssertionError(f"README has no code block starting with {starts_with!r}")


def calibrated_iterations(env: dict[str, str], cwd: Path, seconds: float, step: int = 500) -> int:
    """Iterations of the default run that take at least ``seconds`` of training here (a multiple of
    ``step``), from the CPU time of a local 500-iteration run: its speed with a core to itself. Wall
    time would follow the load at the moment of calibrating; a job calibrated while the slow tests
    started beside it, and then run faster, finished in two allocations where three were planned."""
    out_dir = cwd / "calibration"
    run([*train_cmd(), "iterations=500", f"hydra.run.dir={out_dir}"], env, cwd)
    rate = 500 / max(summary(out_dir)["cpu_seconds"], 1e-3)
    return max(step, math.ceil(rate * seconds / step) * step)
