"""Requeue on a real cluster, with the defaults (progress bar on):

- a ``submitit_slurm`` job reaching its time limit again and again (at least two requeues) ends
  with the metrics, every ``metrics.csv`` cell and the checkpoint of an uninterrupted run;
- a 2-task DDP job (``accelerator=ddp_cpu``, gloo) signalled and requeued continues bit for bit:
  every rank's random streams come back from the checkpoint;
- the README's batch script, as printed, reaches its time limit, is requeued and resumes.

The time-limit jobs are submitted at the start of the ``slurm`` tests (conftest.long_jobs)."""

from __future__ import annotations

import re
import subprocess

from slurm_helpers import (
    assert_same_run,
    job_logs,
    metrics_rows,
    run,
    summary,
    sweep_dir_of,
    train_cmd,
    wait_until,
)

REQUEUE_NOTE = "handing over to the job launcher to requeue"


def sacct_states(env: dict[str, str], job_id: str) -> list[str]:
    """The state of every allocation the job had (``sacct --duplicates``: one line per requeue)."""
    out = run(["sacct", "-D", "-X", "-n", "-P", "-j", job_id, "-o", "State"], env, ".")
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def test_time_limit_requeues_with_the_progress_bar_end_as_an_uninterrupted_run(long_jobs, slurm_env, tmp_path):
    job = long_jobs["submitit"]
    local = tmp_path / "uninterrupted"  # trained while the SLURM job waits for its time limits
    run([*train_cmd(), f"iterations={job.iterations}", f"hydra.run.dir={local}"], slurm_env, tmp_path)

    job.process.wait(timeout=1800)
    out = job.output()
    assert job.process.returncode == 0, out[-5000:] + "\n" + job_logs(job.cwd / sweep_dir_of(out))
    (run_dir,) = [p for p in (job.cwd / sweep_dir_of(out)).iterdir() if (p / "summary.json").exists()]
    record = summary(run_dir)
    assert record["status"] == "completed" and record["iterations"] == job.iterations, record
    assert record["resumed_from"] > 0

    logs = sorted((job.cwd / sweep_dir_of(out) / ".submitit").rglob("*_log.out"))
    (job_id,) = {p.parent.name for p in logs}
    # (the last allocation's own state may read FAILED: SLURM's warning can reach the job's last
    # process after the result is written; the result and the record are what count)
    assert sacct_states(slurm_env, job_id).count("REQUEUED") >= 2
    assert "".join(p.read_text() for p in logs).count(REQUEUE_NOTE) >= 2  # ganbench saved before each
    assert_same_run(run_dir, local)


def test_ddp_requeue_is_bit_exact(slurm_env, tmp_path):
    iterations = 1500
    overrides = ["accelerator=ddp_cpu", f"iterations={iterations}", "eval.every=500", "checkpoint.every=500"]
    cmd = [*train_cmd(), "-m", "hydra/launcher=submitit_slurm", "hydra.launcher.partition=debug", *overrides]
    with open(tmp_path / "submit.log", "w") as log:
        submitter = subprocess.Popen(cmd, env=slurm_env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        sweep = tmp_path / wait_until(lambda: _announced(tmp_path / "submit.log"), 120, "sweep directory announced")
        run_dir = sweep / "0_nonsaturating_none_s0"
        # once both ranks train (rank 0 logs its first rows), SLURM signals every task of the job
        wait_until(lambda: (run_dir / "metrics.csv").exists() and len(metrics_rows(run_dir)) >= 2, 300, "training")
        job_id = wait_until(lambda: _job_id(sweep), 60, "the job's id")
        run(["scancel", "--signal=USR2", job_id], slurm_env, tmp_path)
        submitter.wait(timeout=900)
    finally:
        if submitter.poll() is None:
            submitter.kill()
    out = (tmp_path / "submit.log").read_text()
    assert submitter.returncode == 0, out[-5000:] + "\n" + job_logs(sweep)
    record = summary(run_dir)
    assert record["status"] == "completed" and 0 < record["resumed_from"] < iterations, record
    assert "REQUEUED" in sacct_states(slurm_env, job_id)

    local = tmp_path / "uninterrupted"
    run([*train_cmd(), *overrides, f"hydra.run.dir={local}"], slurm_env, tmp_path)
    assert_same_run(run_dir, local)


def test_readme_batch_script_is_requeued_at_its_time_limit_and_resumes(long_jobs, slurm_env):
    job = long_jobs["sbatch"]
    wait_until(lambda: _finished(slurm_env, job.job_id), 1800, f"job {job.job_id} done", poll=5)
    log = (job.cwd / f"ganbench-{job.job_id}.out").read_text()  # --open-mode=append: every allocation's output
    assert log.count(f"requeued SLURM job {job.job_id}") >= 1, log[-5000:]
    assert "ganbench: run completed" in log, log[-5000:]
    run_dir = job.cwd / "runs" / "ring" / "nonsaturating" / f"slurm-{job.job_id}"
    record = summary(run_dir)
    assert record["status"] == "completed" and record["iterations"] == job.iterations, record
    assert 0 < record["resumed_from"] < job.iterations
    logged = [int(r["iteration"]) for r in metrics_rows(run_dir) if r["d_loss"]]  # the loss rows, not evaluations
    assert logged == [1, *range(10, job.iterations + 1, 10)]  # each once: the requeued job truncated and went on
    assert "REQUEUED" in sacct_states(slurm_env, job.job_id)


def _announced(log) -> str | None:
    found = re.search(r"sweep output dir : (\S+)", log.read_text()) if log.exists() else None
    return found.group(1) if found else None


def _job_id(sweep) -> str | None:
    ids = [p.name for p in (sweep / ".submitit").iterdir() if re.fullmatch(r"\d+(_\d+)?", p.name)]
    return ids[0] if ids else None


def _finished(env: dict[str, str], job_id: str) -> bool:
    states = sacct_states(env, job_id)
    return bool(states) and states[-1] in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL")
