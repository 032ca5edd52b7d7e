"""Helpers shared by test modules (``from helpers import ...``: tests/ is on sys.path through its
conftest.py): a two-process CPU DDP job in a fresh interpreter, and the state of a checkpoint
flattened to tensors, to compare two runs exactly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

SRC = Path(__file__).resolve().parents[1] / "src"


def run_ddp(args: list[str], cwd: Path, script: Path | None = None, timeout: float = 600) -> str:
    """Run a CPU DDP job (gloo, ``accelerator=ddp_cpu``: two processes) in a fresh interpreter:
    ``python -m ganbench.train *args``, or ``python script *args`` for a script that composes its own
    config. Lightning starts rank 1 by re-running the same command, so the job must be a process of
    its own. ganbench's ``src`` is on PYTHONPATH and each rank runs one thread. Checks that the job
    succeeded with both processes and returns its output (stdout + stderr)."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(script)] if script is not None else [sys.executable, "-m", "ganbench.train"]
    proc = subprocess.run([*cmd, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    assert "Starting with 2 processes" in output, output[-5000:]
    return output


def checkpoint_state(run_dir: Path, checkpoint: str = "last.ckpt") -> dict[str, torch.Tensor]:
    """What a run must reproduce exactly, from ``run_dir/checkpoints/<checkpoint>``, as tensors: the
    module's ``state_dict`` (both players, the EMA generator, buffers), every optimiser's
    per-parameter state (``opt{i}.{param}.{key}``: Adam's moments and step), the learning rate of
    every parameter group (``lr``) and Lightning's ``global_step``."""
    ckpt = torch.load(Path(run_dir) / "checkpoints" / checkpoint, map_location="cpu", weights_only=False)
    out = dict(ckpt["state_dict"])
    for i, opt in enumerate(ckpt["optimizer_states"]):
        for pid, st in opt["state"].items():
            for k, v in st.items():
                out[f"opt{i}.{pid}.{k}"] = torch.as_tensor(v)
    out["lr"] = torch.tensor([g["lr"] for opt in ckpt["optimizer_states"] for g in opt["param_groups"]])
    out["global_step"] = torch.tensor(ckpt["global_step"])
    return out


def assert_same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    """The two flattened states hold the same keys and bit-identical tensors."""
    assert a.keys() == b.keys(), sorted(set(a) ^ set(b))
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs"
