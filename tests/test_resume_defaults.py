"""Resume in its default setting (the progress bar on), at the last iteration, from odd paths, on a
full disk, and from a run directory whose config.yaml names code that is not ganbench's."""

from __future__ import annotations

import csv
import errno
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from ganbench import summary
from ganbench.config import compose
from ganbench.errors import ConfigError
from ganbench.experiment import RecordWriteError, run
from ganbench.rundir import hydra_quoted, override_argument, resume_command

ROOT = Path(__file__).resolve().parents[1]
# the progress bar is NOT turned off: it is the default
RUN = ["iterations=40", "checkpoint.every=20", "eval.every=20", "evaluator.num_samples=300", "log_every=5"]
BAR_OFF = "trainer.enable_progress_bar=false"


def resume(run_dir: Path, *extra: str) -> dict:
    overrides = [f"resume={hydra_quoted(str(run_dir))}", *extra]
    return run(compose(overrides), run_dir, overrides=overrides)


@pytest.fixture(scope="module", params=["bar on", "bar off"])
def finished(request, tmp_path_factory) -> tuple[Path, dict, str]:
    """A finished run (with the progress bar on, the default; and a bar-off variant), its record and metrics.csv."""
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    extra = [BAR_OFF] if request.param == "bar off" else []
    record = run(compose([*RUN, *extra]), run_dir)
    assert record["status"] == "completed"
    return run_dir, record, (run_dir / "metrics.csv").read_text()


def copy_of(finished_dir: Path, tmp_path: Path) -> Path:
    run_dir = tmp_path / "copy"
    shutil.copytree(finished_dir, run_dir)
    return run_dir


def test_resume_in_the_middle_of_the_run_with_the_progress_bar(finished, tmp_path):
    """Lightning restarts mid-epoch without on_train_epoch_start: the bar must still count from there."""
    source, record, csv_text = finished
    run_dir = copy_of(source, tmp_path)
    shutil.copy(run_dir / "checkpoints" / "iter000020.ckpt", run_dir / "checkpoints" / "last.ckpt")
    (run_dir / "summary.json").unlink()
    resumed = resume(run_dir)
    assert resumed["status"] == "completed" and resumed["resumed_from"] == 20
    assert resumed["metrics"] == record["metrics"]
    assert (run_dir / "metrics.csv").read_text() == csv_text


@pytest.mark.parametrize("damage", ["killed before its record", "record damaged"])
def test_a_run_resumed_at_its_last_iteration_ends_with_the_final_metrics(finished, tmp_path, damage):
    source, record, csv_text = finished
    run_dir = copy_of(source, tmp_path)
    if damage == "killed before its record":
        (run_dir / "summary.json").write_text(json.dumps({**record, "status": "running", "metrics": {}}))
    else:
        (run_dir / "summary.json").write_text("{ not json")
    resumed = resume(run_dir)
    assert resumed["status"] == "completed" and resumed["iterations"] == 40
    assert resumed["metrics"] == record["metrics"] and resumed["evaluated_at"] == 40
    assert resumed["plot"] == str(run_dir / Path(record["plot"]).relative_to(source))
    assert (run_dir / "metrics.csv").read_text() == csv_text  # not logged twice


# Any finite reverse KL is below the threshold: every evaluation (each 20 iterations) stops the run.
EARLY_STOP = [
    "+callbacks=early_stopping",
    "callbacks.early_stopping.monitor=reverse_kl",
    "callbacks.early_stopping.stopping_threshold=1e9",
]


def test_a_run_stopped_early_is_finished_and_resumes_only_to_go_beyond_its_planned_iterations(tmp_path):
    run_dir = tmp_path / "run"
    record = run(compose([*RUN, *EARLY_STOP]), run_dir)  # planned 40 iterations, stopped at the first evaluation
    assert record["status"] == "completed" and record["iterations"] == 20 and record["planned_iterations"] == 40
    assert record["reason"].startswith("stopped early: Stopping threshold reached: reverse_kl = ")
    files = {p: p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file() and ".lock" not in p.name}
    # resume=, and a requeued job starting the same config in the same directory: nothing trains
    assert resume(run_dir) == record
    assert run(compose([*RUN, *EARLY_STOP]), run_dir) == record
    assert {p: p.read_bytes() for p in files} == files
    # iterations= beyond the planned ones trains on, until the next evaluation stops it again
    extended = resume(run_dir, "iterations=60")
    assert extended["status"] == "completed" and extended["resumed_from"] == 20 and extended["iterations"] == 40
    assert extended["planned_iterations"] == 60
    evaluated = [r["iteration"] for r in csv.DictReader((run_dir / "metrics.csv").open()) if r["reverse_kl"]]
    assert evaluated == ["20", "40"]
    # a run that is not stopped early has no planned_iterations nor reason
    plain = run(compose(RUN), tmp_path / "plain")
    assert plain["iterations"] == 40 and "planned_iterations" not in plain and "reason" not in plain


NASTY = ["a b", "ü", "it's", 'say "hi"', "a,b", "a=b", "[x]", "{y}", "back\\slash", "end\\", "${oc.env:HOME}", "$HOME"]


@pytest.mark.parametrize("name", NASTY)
def test_an_override_survives_the_shell_then_hydra(tmp_path, name):
    """What the shell hands over is one argument, which Hydra's lexer and OmegaConf read back as the path."""
    path = str(tmp_path / name / "run")
    echoed = subprocess.run(
        [
            "bash",
            "-c",
            f"{shlex.quote(sys.executable)} -c 'import sys; print(sys.argv[1])' {override_argument('resume', path)}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.rstrip("\n")
    value = OverridesParser.create().parse_override(echoed).value()
    assert OmegaConf.create({"resume": value}).resume == path
    assert resume_command(Path(path)) == f"ganbench-train {override_argument('resume', path)}"


def test_the_recovery_command_for_a_damaged_checkpoint_runs_in_a_shell(tmp_path):
    """An intact iterNNNNNN.ckpt beside a damaged last.ckpt, in a path Hydra's lexer would refuse unquoted."""
    run_dir = tmp_path / "it's ü, [x]" / "run"
    run(compose([*RUN, "iterations=20", "checkpoint.every=10", "eval.every=10"]), run_dir)
    (run_dir / "checkpoints" / "last.ckpt").write_bytes(b"garbage")
    (run_dir / "summary.json").unlink()
    with pytest.raises(ConfigError) as refused:
        resume(run_dir)
    command = str(refused.value).split("resume from it with: ", 1)[1]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.update(PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1")
    done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"


# ------------------------------------------------------------------------------------ full disk
def test_a_full_disk_is_recorded_failed_and_leaves_no_partial_file(tmp_path, monkeypatch):
    """ENOSPC in the middle of a checkpoint write (after part of the file is written)."""
    import lightning as L

    save_checkpoint = L.Trainer.save_checkpoint

    def full_disk(self, filepath, *args, **kwargs):
        if self.lightning_module.iteration >= 20:
            Path(filepath).write_bytes(b"partial")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(filepath))
        return save_checkpoint(self, filepath, *args, **kwargs)

    monkeypatch.setattr(L.Trainer, "save_checkpoint", full_disk)
    run_dir = tmp_path / "run"
    with pytest.raises(OSError) as raised:
        run(compose([*RUN, "checkpoint.every=10"]), run_dir)
    assert raised.value.errno == errno.ENOSPC
    record = json.loads((run_dir / "summary.json").read_text())
    assert record["status"] == "failed" and "No space left on device" in record["error"]
    assert "\n" not in record["error"]
    assert not list(run_dir.rglob("*.tmp")), sorted(run_dir.rglob("*"))


def test_when_not_even_the_record_can_be_written_the_error_says_so(tmp_path, monkeypatch):
    import lightning as L

    def full_disk(self, filepath, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(filepath))

    run_dir = tmp_path / "run"
    real_write = summary.write_record
    monkeypatch.setattr(L.Trainer, "save_checkpoint", full_disk)

    def write_record(directory, record):
        data = record.to_dict() if hasattr(record, "to_dict") else record
        if data["status"] != "running":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(directory))
        return real_write(directory, record)

    monkeypatch.setattr(summary, "write_record", write_record)
    with pytest.raises(RecordWriteError) as raised:
        run(compose([*RUN, "checkpoint.every=10"]), run_dir)
    message = raised.value.strerror
    assert "\n" not in message and "the run failed" in message and "even its record could not be written" in message


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("mount") is None, reason="mounting a tmpfs needs root")
def test_a_real_full_disk_through_the_command_line(tmp_path):
    """A 2 MB tmpfs as the run directory: a checkpoint of the toy run is about 1 MB."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "ganbench.train",
                *RUN,
                "iterations=200",
                "checkpoint.every=20",
                f"hydra.run.dir={disk}/run",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
        errors = [line for line in done.stderr.splitlines() if line.startswith("ganbench: ")]
        assert len(errors) == 1 and "No space left on device" in errors[0]
        record = json.loads((disk / "run" / "summary.json").read_text())
        assert record["status"] == "failed" and "No space left on device" in record["error"]
        assert not list(disk.rglob("*.tmp"))
    finally:
        subprocess.run(["umount", str(disk)])


# ------------------------------------------------------------------------------- trusted targets
def test_resume_refuses_a_target_that_is_not_ganbench_s_own(finished, tmp_path):
    source, _, _ = finished
    run_dir = copy_of(source, tmp_path)
    victim, copied = tmp_path / "victim.txt", tmp_path / "copied.txt"
    victim.write_text("secret")
    config = OmegaConf.load(run_dir / "config.yaml")
    config.loss = {"_target_": "shutil.copyfile", "src": str(victim), "dst": str(copied)}
    OmegaConf.save(config, run_dir / "config.yaml")
    (run_dir / "summary.json").unlink()
    before = sorted(p.name for p in run_dir.rglob("*"))
    with pytest.raises(ConfigError, match=r"loss\._target_=shutil\.copyfile.*not one of ganbench's own") as refused:
        resume(run_dir)
    assert "\n" not in str(refused.value)
    assert not copied.exists() and sorted(p.name for p in run_dir.rglob("*")) == before
    # named on the command line, it is the user's choice (and here fails as a loss, after running)
    with pytest.raises(ConfigError, match="loss"):
        resume(run_dir, "loss._target_=shutil.copyfile")
    assert copied.read_text() == "secret"


def test_ganbench_s_own_targets_and_torch_optimisers_are_trusted():
    from ganbench.trusted_targets import untrusted_targets

    cfg = OmegaConf.to_container(compose(["loss=hinge", "regularizer=gp"]), resolve=False)
    cfg.pop("hydra")
    cfg["optimizer"]["scheduler"] = {"_target_": "torch.optim.lr_scheduler.StepLR"}
    assert untrusted_targets(cfg, {}) == []
    cfg["model"]["generator"]["_target_"] = "os.system"
    assert untrusted_targets(cfg, {}) == [("model.generator._target_", "os.system")]
    assert untrusted_targets(cfg, {"model.generator._target_": "os.system"}) == []


def test_resume_is_refused_for_a_file(tmp_path):
    path = tmp_path / "a file"
    path.write_text("x")
    with pytest.raises(ConfigError, match="is a file, not a run directory"):
        resume(path)
