"""The progress bar counts GAN iterations out of the run's total, and a resumed run starts where it
stopped."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def train(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "ganbench.train", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=300)  # fmt: skip


def counts(output: str) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in re.findall(r"iterations:\s+\d+%\|[^|]*\|\s*(\d+)/(\d+)", output)]


def test_a_resumed_run_counts_on_from_where_it_stopped(tmp_path):
    run_dir = tmp_path / "run"
    common = ["eval.every=null", "checkpoint.every=null", "log_every=10", f"hydra.run.dir={run_dir}"]
    first = train("iterations=30", *common, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    shown = counts(first.stdout)
    assert shown and all(total == 30 for _, total in shown) and shown[-1] == (30, 30)
    extended = train(f"resume={run_dir}", "iterations=60", cwd=tmp_path)
    assert extended.returncode == 0, extended.stderr[-2000:]
    shown = counts(extended.stdout)
    assert all(total == 60 for _, total in shown) and shown[-1] == (60, 60)
    assert min(n for n, _ in shown) == 30  # starts at the resumed iteration, never back at 0
    assert "Trainer.fit` stopped" not in extended.stdout + extended.stderr
