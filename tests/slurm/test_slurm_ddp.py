"""Two-process DDP (``accelerator=ddp_cpu``, gloo) under SLURM, as the README starts it with
``srun``: one run directory and one record, equal to the same run started locally; ``srun -n2``
(which Lightning does not read) is refused before anything is written."""

from __future__ import annotations

import re

from slurm_helpers import assert_same_run, readme_block, run, summary, train_cmd

SRUN = "srun --nodes=1 --ntasks-per-node=2 ganbench-train accelerator=ddp_cpu"


def test_readme_srun_ddp_run_is_recorded_once_and_equals_a_local_ddp_run(slurm_env, tmp_path):
    command = readme_block(SRUN).strip()
    out = run(command, slurm_env, tmp_path)
    assert out.count("Starting with 2 processes") == 1, out[-3000:]
    assert out.count("ganbench: run completed") == 1, out[-3000:]  # rank 0 reports, once
    (run_dir,) = (tmp_path / "runs" / "ring" / "nonsaturating").iterdir()
    assert re.fullmatch(r"slurm-\d+", run_dir.name)
    assert summary(run_dir)["choices"]["accelerator"] == "ddp_cpu"

    local = tmp_path / "local"
    out = run([*train_cmd(), *command.split()[4:], f"hydra.run.dir={local}"], slurm_env, tmp_path)
    assert "Starting with 2 processes" in out
    assert_same_run(run_dir, local)


def test_srun_with_ntasks_alone_is_refused_before_anything_is_written(slurm_env, tmp_path):
    out = run("srun -n2 ganbench-train accelerator=ddp_cpu iterations=20", slurm_env, tmp_path, check=False)
    lines = [line for line in out.splitlines() if line.startswith("ganbench:")]
    assert len(lines) == 2 and "--ntasks-per-node=2" in lines[0], out[-3000:]  # one line per task
    assert "exit code 2" in out, out[-3000:]
    assert "Traceback" not in out
    assert not list((tmp_path / "runs").rglob("slurm-*")), "a refused run left its directory"
