"""Sweeps through the real ``ganbench-train -m`` command: the default (sequential) launcher with a
failing job, the joblib and submitit_local launchers, and the SLURM job script the submitit_slurm
config produces."""

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
import submitit
from hydra.utils import instantiate

import ganbench
from ganbench.compare import compare
from ganbench.config import compose
from ganbench.launchers import parallel_jobs, threads_per_job

SRC = Path(ganbench.__file__).resolve().parents[1]
TINY = [
    "iterations=10",
    "eval.every=10",
    "evaluator.num_samples=200",
    "log_every=5",
    "checkpoint.every=null",
    "trainer.enable_progress_bar=false",
]


def ganbench_train(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "WANDB_MODE": "disabled",
        "MPLBACKEND": "Agg",
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-m", "ganbench.train", "-m", *TINY, *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def summaries(sweep: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(sweep.glob("*/summary.json"))}


def d_losses(run_dir: Path) -> list[float]:
    return [float(r["d_loss"]) for r in csv.DictReader(open(run_dir / "metrics.csv")) if r.get("d_loss")]


@pytest.fixture(scope="module")
def basic_sweep(tmp_path_factory) -> Path:
    """The default launcher; the second job gets a negative penalty weight, which only fails when
    the job builds its regularizer."""
    tmp = tmp_path_factory.mktemp("basic")
    ganbench_train(["regularizer=gp", "regularizer.weight=1,-1,2", "seed=3", f"hydra.sweep.dir={tmp}/sweep"], tmp)
    return tmp / "sweep"


def test_failing_job_is_recorded_and_the_sweep_goes_on(basic_sweep):
    found = summaries(basic_sweep)
    # directories are named by the objective as it ran: the penalty weight is part of it
    assert list(found) == [
        "0_nonsaturating_gp_weight1_s3",
        "1_nonsaturating_gp_weight-1_s3",
        "2_nonsaturating_gp_weight2_s3",
    ]
    first, bad, last = found.values()
    assert first["status"] == "completed" and last["status"] == "completed"
    assert first["iterations"] == last["iterations"] == 10
    assert bad["status"] == "failed"
    assert "weight" in bad["error"] and "-1" in bad["error"]
    # the refused job wrote its failed record and nothing else
    assert sorted(p.name for p in (basic_sweep / "1_nonsaturating_gp_weight-1_s3").iterdir()) == ["summary.json"]
    # each job ran its own overrides in its own directory
    names = list(found)
    overrides = [(basic_sweep / name / ".hydra" / "overrides.yaml").read_text() for name in (names[0], names[2])]
    assert "regularizer.weight=1" in overrides[0] and "regularizer.weight=2" in overrides[1]
    assert d_losses(basic_sweep / names[0]) != d_losses(basic_sweep / names[2])


def test_compare_reads_the_real_sweep(basic_sweep, tmp_path):
    result = compare([basic_sweep], by=["regularizer.weight"], out=tmp_path, plots=False)
    rates = {s.key: (s.n, s.failure_rate) for s in result.stats}
    assert rates == {("-1",): (1, 1.0), ("1",): (1, 0.0), ("2",): (1, 0.0)}
    first = summaries(basic_sweep)["0_nonsaturating_gp_weight1_s3"]["metrics"]
    stats = {s.key: s for s in result.stats}[("1",)].metrics
    assert stats["reverse_kl"].mean == pytest.approx(first["reverse_kl"])


def test_joblib_launcher_runs_jobs_in_parallel_with_one_thread_each(basic_sweep, tmp_path):
    # OMP_NUM_THREADS=2 in the environment would give every worker 2 threads: ganbench overrides it
    ganbench_train(
        ["hydra/launcher=joblib", "regularizer=gp", "regularizer.weight=1", "seed=3,4", f"hydra.sweep.dir={tmp_path}"],
        tmp_path,
        OMP_NUM_THREADS="2",
    )
    found = summaries(tmp_path)
    assert [s["status"] for s in found.values()] == ["completed", "completed"]
    assert [s["seed"] for s in found.values()] == [3, 4]
    for name in found:
        assert "1 torch thread(s) per job" in (tmp_path / name / "train.log").read_text()
    # same seed and config as the sequential sweep's first job: the same run
    same = found["0_nonsaturating_gp_weight1_s3"]
    assert same["metrics"] == summaries(basic_sweep)["0_nonsaturating_gp_weight1_s3"]["metrics"]
    assert d_losses(tmp_path / "0_nonsaturating_gp_weight1_s3") == d_losses(
        basic_sweep / "0_nonsaturating_gp_weight1_s3"
    )


def submitit_task_pids(folder: Path) -> list[int]:
    """PIDs of the submitit task processes working for the sweep under ``folder`` (Linux /proc)."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"submitit.core._submit" in argv and any(str(folder).encode() in a for a in argv):
            pids.append(int(cmdline.parent.name))
    return pids


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds the job process through /proc")
def test_submitit_local_job_requeued_on_timeout_signal_resumes_from_last_ckpt(tmp_path):
    """The real submitit path: the job gets submitit's time-limit signal (SIGUSR2, what SLURM sends
    signal_delay_s before the limit) while training; it stops at an iteration boundary with last.ckpt,
    submitit requeues it, and the requeued job continues in the same run directory from last.ckpt.
    The sweep directory is the default ``multirun/${now:...}``: the requeued job must find the same one."""
    total = 200
    args = [a for a in TINY if not a.startswith(("iterations", "eval.every", "checkpoint.every"))]
    args += [f"iterations={total}", "eval.every=100", "checkpoint.every=20", "log_every=10"]
    args += ["hydra/launcher=submitit_local", "loss=hinge", "seed=5"]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
        "WANDB_MODE": "disabled",
        "MPLBACKEND": "Agg",
    }
    sweep = subprocess.Popen(
        [sys.executable, "-m", "ganbench.train", "-m", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        first_ckpt = None
        while first_ckpt is None and time.monotonic() < deadline and sweep.poll() is None:
            first_ckpt = next(iter(tmp_path.glob("multirun/*/0_hinge_none_s5/checkpoints/iter000020.ckpt")), None)
            time.sleep(0.02)
        assert first_ckpt is not None, "the job never reached iteration 20"
        (pid,) = submitit_task_pids(tmp_path)
        os.kill(pid, signal.SIGUSR2)
        output, _ = sweep.communicate(timeout=240)
    finally:
        sweep.kill()
    assert sweep.returncode == 0, output[-3000:]

    (run_dir,) = tmp_path.glob("multirun/*/0_hinge_none_s5")  # one sweep directory, one run directory
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["iterations"] == total
    # the first attempt stopped just after the signal, past the checkpoint at 20 and well before the end
    assert 20 <= summary["resumed_from"] < total
    # each logging iteration (the first, then every 10th) logged once: the second attempt appended after
    # the first one's last.ckpt, with the rows the first attempt logged past it dropped
    logged = [int(r["iteration"]) for r in csv.DictReader(open(run_dir / "metrics.csv")) if r.get("d_loss")]
    assert logged == [1, *range(10, total + 1, 10)]
    # both attempts ran as the same submitit job (one job folder, its log appended), and submitit
    # recorded the job's result once, when it completed
    submitit_dir = run_dir.parent / ".submitit"
    (out_log,) = submitit_dir.rglob("*_log.out")
    out = out_log.read_text()
    interrupted = out.index(f"ganbench: run interrupted after {summary['resumed_from']} iterations")
    assert interrupted < out.index(f"ganbench: run completed after {total} iterations")
    assert len(list(submitit_dir.rglob("*_result.pkl"))) == 1


@pytest.fixture
def fake_srun(tmp_path, monkeypatch):
    """submitit's SLURM executor only checks that ``srun`` exists."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def slurm_script(overrides: list[str], sweep_dir: Path, monkeypatch) -> tuple[str, object]:
    """The sbatch script hydra-submitit-launcher would submit for ``overrides`` (not submitted)."""
    cfg = compose(["hydra/launcher=submitit_slurm", f"hydra.sweep.dir={sweep_dir}", *overrides])
    launcher = instantiate(cfg.hydra.launcher)
    launcher.config = cfg
    captured = {}

    class SubmittedError(Exception):
        pass

    def map_array(self, fn, *args):
        captured["executor"] = self._executor
        raise SubmittedError

    monkeypatch.setattr(submitit.AutoExecutor, "map_array", map_array)
    with pytest.raises(SubmittedError):
        launcher.launch([["seed=0"]], initial_job_idx=0)
    executor = captured["executor"]
    return executor._make_submission_file_text("python -m ganbench.train", "uid"), executor


def test_slurm_resources_follow_the_accelerator(fake_srun, tmp_path, monkeypatch):
    script, executor = slurm_script(
        [
            "accelerator=gpu",
            "accelerator.devices=4",
            "hydra.launcher.partition=gpu_long",
            "hydra.launcher.account=my_project",
            "hydra.launcher.timeout_min=90",
        ],
        tmp_path,
        monkeypatch,
    )
    lines = set(script.splitlines())
    assert {
        "#SBATCH --gpus-per-node=4",
        "#SBATCH --ntasks-per-node=4",
        "#SBATCH --nodes=1",
        "#SBATCH --partition=gpu_long",
        "#SBATCH --account=my_project",
        "#SBATCH --time=90",
    } <= lines
    assert any(line.startswith("#SBATCH --signal=") and line.endswith("@120") for line in lines)
    assert executor.max_num_timeout == 3  # requeued up to 3 times when a job reaches its time limit

    cpu_script, _ = slurm_script(["accelerator=cpu"], tmp_path, monkeypatch)
    assert "#SBATCH --ntasks-per-node=1" in cpu_script and "gpus-per-node" not in cpu_script
    devices_list, _ = slurm_script(["accelerator=gpu", "accelerator.devices=[0,1]"], tmp_path, monkeypatch)
    assert "#SBATCH --gpus-per-node=2" in devices_list and "#SBATCH --ntasks-per-node=2" in devices_list
    # multi-node DDP: nodes follow accelerator.num_nodes, tasks and GPUs stay per node
    two_nodes, _ = slurm_script(
        ["accelerator=gpu", "accelerator.devices=8", "++accelerator.num_nodes=2"], tmp_path, monkeypatch
    )
    assert {"#SBATCH --nodes=2", "#SBATCH --gpus-per-node=8", "#SBATCH --ntasks-per-node=8"} <= set(
        two_nodes.splitlines()
    )


def test_slurm_needs_an_explicit_device_count(fake_srun, tmp_path, monkeypatch):
    with pytest.raises(Exception, match=r"explicit device count.*accelerator.devices=N"):
        slurm_script(["accelerator=gpu", "accelerator.devices=auto"], tmp_path, monkeypatch)


def test_threads_per_job_share_the_cores():
    assert [parallel_jobs(n, 8) for n in (-1, -2, 3, 16)] == [8, 7, 3, 16]
    assert [threads_per_job(n, 8) for n in (-1, -2, 1, 2, 3, 16)] == [1, 1, 8, 4, 2, 1]
    assert threads_per_job(2, 2) == 1  # 2 jobs × 2 threads on 2 cores oversubscribes
    with pytest.raises(ValueError, match="n_jobs=0"):
        parallel_jobs(0, 8)
