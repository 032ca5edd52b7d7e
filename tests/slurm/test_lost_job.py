"""A sweep job killed without a result (SIGKILL, as the kernel's out-of-memory killer does): the
launcher returns within a bounded time and the run's record says ``failed`` - with SLURM
accounting (``sacct`` reports the job FAILED), and without it (a ``sacct`` that cannot reach the
database stands in for a cluster without accounting: every state reads UNKNOWN, and the launcher
notices the loss from ``squeue``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
from slurm_helpers import summary, train_cmd, wait_until

NO_ACCOUNTING_SACCT = """#!/bin/sh
echo "sacct: error: Problem talking to the database: Connection refused" >&2
exit 1
"""


@pytest.mark.parametrize("accounting", [True, False], ids=["sacct", "no_sacct"])
def test_a_killed_job_ends_the_wait_and_is_recorded_failed(slurm_env, tmp_path, accounting):
    env = dict(slurm_env)
    if not accounting:
        stub = tmp_path / "no_accounting"
        stub.mkdir()
        (stub / "sacct").write_text(NO_ACCOUNTING_SACCT)
        (stub / "sacct").chmod(0o755)
        env["PATH"] = f"{stub}{os.pathsep}{env['PATH']}"
    sweep = tmp_path / "sweep"
    cmd = [*train_cmd(), "-m", "hydra/launcher=submitit_slurm", "hydra.launcher.partition=debug",
           "iterations=10000000", f"hydra.sweep.dir={sweep}"]  # fmt: skip
    with open(tmp_path / "submit.log", "w") as log:
        submitter = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        run_dir = sweep / "0_nonsaturating_none_s0"
        lock = run_dir / ".ganbench.lock"
        wait_until(lambda: (run_dir / "metrics.csv").exists() and lock.exists() and lock.read_text(), 300, "training")
        os.kill(json.loads(lock.read_text())["pid"], signal.SIGKILL)  # the job's ganbench process
        killed = time.monotonic()
        submitter.wait(timeout=300)  # bounded: without the launcher's own check this waits forever without sacct
        waited = time.monotonic() - killed
    finally:
        if submitter.poll() is None:
            submitter.kill()
    out = (tmp_path / "submit.log").read_text()
    assert submitter.returncode == 0, out[-5000:]  # the sweep goes on past a lost job
    assert "recorded as failed" in out and "Traceback" not in out, out[-5000:]
    record = summary(run_dir)
    assert record["status"] == "failed", record
    assert "without a result" in record["error"] and "_log.err" in record["error"]
    print(f"launcher returned {waited:.0f} s after the kill (accounting={accounting})")
