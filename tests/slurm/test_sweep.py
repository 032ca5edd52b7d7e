"""A ``hydra/launcher=submitit_slurm`` sweep, the README's command as printed: its runs land under
the sweep directory the launcher announces, ``ganbench-compare`` reads them, and each equals the
same run started locally."""

from __future__ import annotations

from slurm_helpers import assert_same_run, readme_block, run, summary, sweep_dir_of, train_cmd

SWEEP = "ganbench-train -m hydra/launcher=submitit_slurm hydra.launcher.partition=debug"


def test_readme_sweep_lands_in_the_announced_directory_and_equals_local_runs(slurm_env, tmp_path):
    command = readme_block(SWEEP).strip()
    out = run(command, slurm_env, tmp_path)
    sweep = tmp_path / sweep_dir_of(out)
    runs = sorted(p for p in sweep.iterdir() if (p / "summary.json").exists())
    assert [p.name for p in runs] == ["0_minimax_none_s0", "1_nonsaturating_none_s0"]
    assert not list((tmp_path / "multirun").glob("slurm-*")), "runs scattered over per-job directories"
    assert all(summary(p)["status"] == "completed" for p in runs)

    table = run(["ganbench-compare", str(sweep), "--no-plots"], slurm_env, tmp_path)
    assert "minimax" in table and "nonsaturating" in table, table

    overrides = command.split()[4:]  # what follows the launcher and partition: loss=… iterations=…
    losses = overrides[0].split("=")[1].split(",")
    for run_dir, loss in zip(runs, losses):
        local = tmp_path / f"local_{loss}"
        run([*train_cmd(), f"loss={loss}", *overrides[1:], f"hydra.run.dir={local}"], slurm_env, tmp_path)
        assert_same_run(run_dir, local)
