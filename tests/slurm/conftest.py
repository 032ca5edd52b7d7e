"""The ``slurm`` tests run against a real single-node SLURM cluster: ``scripts/slurm_cluster.sh
start`` (``.ci/run`` starts it before the tests and stops it after). The cluster is found through
``SLURM_CONF``, or the script's ``status``. Without one these tests fail with the reason under CI
(``CI`` set), and are skipped with it otherwise.

Jobs run ganbench from this interpreter's environment (its ``bin`` first on ``PATH``, one torch
thread per process). The two time-limit requeue jobs are submitted as soon as the first ``slurm``
test starts (:func:`long_jobs`), and their tests are run last, so that the others run while those
jobs wait for their time limits.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from slurm_helpers import (
    BIN,
    SIGNAL_DELAY_S,
    TIMEOUT_MIN,
    calibrated_iterations,
    find_cluster,
    readme_block,
    run,
    train_cmd,
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    mine = [item for item in items if here in Path(str(item.fspath)).parents]
    for item in mine:
        item.add_marker(pytest.mark.slurm)
    # the tests that wait for the long jobs go last, so the others run meanwhile
    waiting = [item for item in mine if "long_jobs" in getattr(item, "fixturenames", ())]
    for item in waiting:
        items.remove(item)
        items.append(item)


@pytest.fixture(scope="session")
def slurm_env() -> dict[str, str]:
    """The environment for commands that submit to the cluster (and for the local reference runs)."""
    env, reason = find_cluster()
    if env is None:
        message = f"no SLURM cluster: {reason}. Start one with `scripts/slurm_cluster.sh start` (as root)"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message + "; under CI (CI=true) this is a failure")
    env.update(
        OMP_NUM_THREADS="1",
        WANDB_MODE="disabled",
        MPLBACKEND="Agg",
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    env.pop("HYDRA_FULL_ERROR", None)
    return env


@dataclass
class LongJob:
    """A requeue job submitted in the background: what to wait for and compare."""

    name: str
    cwd: Path
    iterations: int
    process: subprocess.Popen | None = None  # the submitting ganbench-train (submitit launcher)
    job_id: str | None = None  # the sbatch job

    def output(self) -> str:
        return (self.cwd / "submit.log").read_text() if (self.cwd / "submit.log").exists() else ""


@pytest.fixture(scope="session")
def long_jobs(slurm_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, LongJob]:
    """Two jobs that reach their time limit, submitted at once:

    - ``submitit``: ``-m hydra/launcher=submitit_slurm`` of the default run (progress bar on),
      long enough for at least two requeues (about 2.5 allocations of training);
    - ``sbatch``: the README's batch script, as printed, given the same short time limit on the
      command line, long enough for at least one requeue.
    """
    base = tmp_path_factory.mktemp("long_jobs")
    per_allocation = TIMEOUT_MIN * 60 - SIGNAL_DELAY_S  # the most training one allocation can hold
    iterations = calibrated_iterations(slurm_env, base, 2.3 * per_allocation)
    jobs: dict[str, LongJob] = {}

    cwd = base / "submitit"
    cwd.mkdir()
    cmd = [
        *train_cmd(), "-m", "hydra/launcher=submitit_slurm", "hydra.launcher.partition=debug",
        f"hydra.launcher.timeout_min={TIMEOUT_MIN}", f"hydra.launcher.signal_delay_s={SIGNAL_DELAY_S}",
        "hydra.launcher.max_num_timeout=15", f"iterations={iterations}",
    ]  # fmt: skip
    with open(cwd / "submit.log", "w") as log:
        process = subprocess.Popen(cmd, env=slurm_env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    jobs["submitit"] = LongJob("submitit", cwd, iterations, process=process)

    cwd = base / "sbatch"
    cwd.mkdir()
    (cwd / "train.sbatch").write_text(readme_block("#!/bin/bash\n#SBATCH"))
    sbatch_iterations = max(500, (iterations // 2) // 500 * 500)
    out = run(
        ["sbatch", "--parsable", f"--time={TIMEOUT_MIN}", f"--signal=B:SIGUSR1@{SIGNAL_DELAY_S}", "train.sbatch",
         f"iterations={sbatch_iterations}"],
        slurm_env, cwd,
    )  # fmt: skip
    jobs["sbatch"] = LongJob("sbatch", cwd, sbatch_iterations, job_id=out.strip().split(";")[0])
    yield jobs
    if process.poll() is None:
        process.kill()
    subprocess.run(["scancel", jobs["sbatch"].job_id], env=slurm_env, capture_output=True)


@pytest.fixture(autouse=True, scope="session")
def _submit_long_jobs_first(request: pytest.FixtureRequest) -> None:
    """Submit the long jobs when the first ``slurm`` test starts, if any selected test waits for them."""
    if any("long_jobs" in getattr(item, "fixturenames", ()) for item in request.session.items):
        request.getfixturevalue("long_jobs")
