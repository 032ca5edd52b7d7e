"""The run record: one typed record and one writer, the objective as it ran, evaluation that never
touches the training RNG, load_run, strict resume and file permissions."""

from __future__ import annotations

import csv
import json
import os
import stat
import sys
from pathlib import Path

import pytest
import torch

from ganbench.config import compose
from ganbench.errors import ConfigError
from ganbench.experiment import returned_value, run
from ganbench.identity import component_name, objective, slug
from ganbench.loggers import truncate_metrics
from ganbench.summary import RecordError, RunRecord, RunRecorder, load_record, validate, write_record

PLUGINS = Path(__file__).parent / "plugins"
SHORT = ["trainer.enable_progress_bar=false", "iterations=20", "eval.every=10", "log_every=5", "checkpoint.every=10"]


# ---------------------------------------------------------------------------------- the record
def test_recorder_writes_one_valid_record_through_a_run_lifecycle(tmp_path):
    rec = RunRecorder(tmp_path)
    rec.start(seed=3, choices={"loss": "hinge"}, objective={"loss": "hinge", "regularizer": "none"})
    assert load_record(tmp_path).status == "running"
    rec.interrupted("SIGTERM", 12, iterations=12, wall_seconds=1.5, cpu_seconds=2.5)
    r = load_record(tmp_path)
    assert (r.status, r.signal, r.reason, r.iterations) == ("interrupted", "SIGTERM", "SIGTERM at iteration 12", 12)
    # resuming keeps the earlier wall and CPU time and metrics
    rec2 = RunRecorder(tmp_path)
    rec2.start(seed=3, choices={"loss": "hinge"}, objective={}, resumed_from=12, previous=r)
    assert rec2.record.wall_seconds_before == 1.5 and rec2.record.resumed_from == 12
    assert rec2.record.cpu_seconds_before == 2.5
    rec2.complete(iterations=20, metrics={"fid": 3.0}, directions={"fid": "min"}, wall_seconds=2.0)
    data = json.loads((tmp_path / "summary.json").read_text())
    assert data["status"] == "completed" and data["metrics"] == {"fid": 3.0} and data["resumed_from"] == 12
    assert "signal" not in data and "reason" not in data  # the completed run is not "interrupted" any more


def test_cpu_time_before_a_resume_is_kept_only_when_every_earlier_stretch_had_it(tmp_path):
    old = RunRecord("interrupted", 12, 0, {}, wall_seconds=1.0)  # a record from before cpu_seconds
    rec = RunRecorder(tmp_path)
    rec.start(seed=0, choices={}, objective={}, resumed_from=12, previous=old)
    assert rec.record.cpu_seconds_before is None and rec.record.wall_seconds_before == 1.0
    rec.interrupted("SIGTERM", 20, iterations=20, wall_seconds=1.0, cpu_seconds=1.0)
    rec3 = RunRecorder(tmp_path)  # its second stretch had CPU time, its first did not: the sum is unknown
    rec3.start(seed=0, choices={}, objective={}, resumed_from=20, previous=load_record(tmp_path))
    assert rec3.record.cpu_seconds_before is None and rec3.record.wall_seconds_before == 2.0


def test_a_run_records_the_cpu_time_of_its_process(tmp_path):
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF)
    record = run(compose([*SHORT, "iterations=60"]), tmp_path / "run")
    after = resource.getrusage(resource.RUSAGE_SELF)
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)  # around the whole call
    assert 0 < record["cpu_seconds"] <= used + 0.01


def test_recorder_on_other_ranks_writes_nothing(tmp_path):
    RunRecorder(tmp_path, write=False).start(seed=0, choices={}, objective={})
    assert not (tmp_path / "summary.json").exists()


@pytest.mark.parametrize(
    "data, problem",
    [
        ({"status": "completed"}, "lacks the required field(s) iterations"),
        ({"status": "done", "iterations": 1, "seed": 0, "choices": {}, "metrics": {}}, "unknown status 'done'"),
        ({"status": "completed", "iterations": "5", "seed": 0, "choices": {}, "metrics": {}}, "iterations must be"),
        ({"status": "completed", "iterations": 5, "seed": 0, "choices": [], "metrics": {}}, "choices must be"),
        ({"status": "completed", "iterations": 5, "seed": 0, "choices": {}, "metrics": {"fid": "x"}}, "fid must"),
        ({"status": "completed", "iterations": 5, "seed": 0, "choices": {}, "metrics": {}, "directions": {"a": "up"}},
         "direction of a must be"),
    ],
)  # fmt: skip
def test_malformed_records_are_named(tmp_path, data, problem):
    assert any(problem in p for p in validate(data)), validate(data)
    (tmp_path / "summary.json").write_text(json.dumps(data))
    with pytest.raises(RecordError, match=str(tmp_path)):
        load_record(tmp_path)


def test_non_finite_metrics_round_trip_as_strings(tmp_path):
    write_record(tmp_path, RunRecord("diverged", 3, 0, {}, metrics={"reverse_kl": float("inf")}))
    assert load_record(tmp_path).metrics == {"reverse_kl": "inf"}
    json.loads((tmp_path / "summary.json").read_text())  # strict JSON


def test_run_files_follow_the_umask(train):
    old = os.umask(0o022)
    try:
        _, run_dir = train(*SHORT)
    finally:
        os.umask(old)
    for name in ("summary.json", "config.yaml", "metrics.csv", ".hydra/config.yaml"):
        path = run_dir / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o644, name
    assert stat.S_IMODE((run_dir / "summary.json").stat().st_mode) == 0o644


# ---------------------------------------------------------------------------------- identity
@pytest.mark.parametrize(
    "overrides, loss, regularizer",
    [
        ([], "nonsaturating", "none"),
        (["loss=least_squares", "loss.a=-1", "loss.c=0"], "least_squares(a=-1, c=0)", "none"),
        (["+loss.real_label=0.9"], "nonsaturating(real_label=0.9)", "none"),
        (["loss=least_squares_pearson"], "least_squares_pearson", "none"),
        (["regularizer=gp", "regularizer.weight=1"], "nonsaturating", "gp(weight=1)"),
        (["loss._target_=my_losses.BareLoss"], "my_losses.BareLoss", "none"),
        (["loss._target_=my_losses.ScaledLoss", "+loss.scale=2"], "my_losses.ScaledLoss(scale=2)", "none"),
        (["loss._target_=my_losses.ScaledLoss", "+loss.scale=1.0"], "my_losses.ScaledLoss", "none"),
    ],
)
def test_the_objective_is_named_as_it_runs(overrides, loss, regularizer, monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGINS))
    cfg = compose(overrides)
    choices = {k: str(v) for k, v in cfg.hydra.runtime.choices.items() if k in ("loss", "regularizer")}
    assert objective(cfg, choices) == {"loss": loss, "regularizer": regularizer}


def test_slugs_are_directory_names():
    assert slug("least_squares(a=-1, c=0)") == "least_squares_a-1_c0"
    assert slug("my_pkg.MyLoss(alpha=0.5)") == "my_pkg.MyLoss_alpha0.5"
    assert component_name({"_target_": "ganbench.losses.HingeLoss"}, "loss", "hinge") == "hinge"


def test_a_bare_plugin_loss_trains_and_is_recorded_as_itself(train, monkeypatch):
    """The README's promise: a class with the two methods and nothing else, selected by _target_."""
    monkeypatch.syspath_prepend(str(PLUGINS))
    sys.modules.pop("my_losses", None)
    summary, run_dir = train("loss._target_=my_losses.BareLoss", *SHORT)
    assert summary["status"] == "completed", summary
    assert summary["objective"]["loss"] == "my_losses.BareLoss"
    assert load_record(run_dir).choices["loss"] == "nonsaturating"  # the option it was composed from
    rows = [r for r in csv.DictReader(open(run_dir / "metrics.csv")) if r.get("d_real")]
    assert rows and all(r["d_real"] for r in rows)  # raw outputs logged: the loss says nothing of logits


def test_sweep_directories_are_named_by_the_objective(tmp_path, monkeypatch):
    import subprocess

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "src"), str(PLUGINS)]), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "ganbench.train", "-m", "iterations=2", "eval.every=null", "checkpoint.every=null",
           "trainer.enable_progress_bar=false", "loss=least_squares", "loss.c=0,1",
           f"hydra.sweep.dir={tmp_path}/s"]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    names = sorted(p.name for p in (tmp_path / "s").iterdir() if p.is_dir())
    assert names == ["0_least_squares_c0_none_s0", "1_least_squares_none_s0"], names


# ---------------------------------------------------------------------------------- the returned value
def test_the_sweeper_gets_the_metric_or_the_worst_value():
    cfg = compose([])
    record = {"status": "completed", "metrics": {"modes_captured": 7, "reverse_kl": 0.2},
              "directions": {"modes_captured": "max", "reverse_kl": "min"}}  # fmt: skip
    assert returned_value(cfg, record) == 7
    cfg.optimized_metric = "reverse_kl"
    assert returned_value(cfg, record) == 0.2
    assert returned_value(cfg, {**record, "status": "diverged"}) == float("inf")
    cfg.optimized_metric = "modes_captured"
    assert returned_value(cfg, {**record, "status": "failed"}) == float("-inf")


# ---------------------------------------------------------------------------------- strict resume
def test_truncate_metrics_drops_partial_rows(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("d_loss,iteration,step\n1.0,5,5\n2.0,10,10\n3.0,15,15\n4.1")
    assert truncate_metrics(path, 10) == 2
    assert path.read_text().splitlines() == ["d_loss,iteration,step", "1.0,5,5", "2.0,10,10"]


def test_resume_with_other_overrides_is_refused(tmp_path):
    cfg = compose([f"resume={tmp_path}", "loss=hinge"])
    with pytest.raises(ConfigError, match="loss=hinge would be ignored"):
        run(cfg, tmp_path, overrides=[f"resume={tmp_path}", "loss=hinge"])
    assert list(tmp_path.iterdir()) == []


def test_extending_a_run_equals_one_run_of_the_total_length(train, tmp_path):
    from ganbench import load_run

    base = ["trainer.enable_progress_bar=false", "eval.every=10", "log_every=5", "checkpoint.every=10",
            "ema.decay=0.9", "n_critic=2", "batch_size=64"]  # fmt: skip
    full, full_dir = train(*base, "iterations=40")
    short, short_dir = train(*base, "iterations=20")
    extended = run(compose([*base, "iterations=40", f"resume={short_dir}"]), short_dir,
                   overrides=[f"resume={short_dir}", "iterations=40"])  # fmt: skip
    assert extended["status"] == "completed" and extended["iterations"] == 40 and extended["resumed_from"] == 20
    assert extended["metrics"] == full["metrics"]
    a, b = load_run(full_dir), load_run(short_dir)
    for (k, v), w in zip(a.generator.state_dict().items(), b.generator.state_dict().values()):
        assert torch.equal(v, w), k
    rows = {d: [r for r in csv.DictReader(open(d / "metrics.csv")) if r.get("d_loss")] for d in (full_dir, short_dir)}
    assert rows[full_dir] == rows[short_dir]
    # shortening is refused
    with pytest.raises(ConfigError, match="would shorten"):
        run(compose([*base, "iterations=30", f"resume={short_dir}"]), short_dir,
            overrides=[f"resume={short_dir}", "iterations=30"])  # fmt: skip


# ---------------------------------------------------------------------------------- Ctrl-C at start-up
def test_ctrl_c_during_start_up_is_recorded_as_interrupted(tmp_path, monkeypatch):
    import ganbench.experiment as experiment

    def interrupted_build(cfg, run_dir, interrupt=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(experiment, "build", interrupted_build)
    summary = run(compose(SHORT), tmp_path)
    assert summary["status"] == "interrupted" and summary["signal"] == "SIGINT"
    assert "start-up" in summary["reason"]
    assert load_record(tmp_path).status == "interrupted"


# ---------------------------------------------------------------------------------- load_run
def test_load_run_gives_the_ema_generator_ready_to_sample(train):
    from ganbench import load_run
    from ganbench.evaluation.toy import mode_metrics

    summary, run_dir = train(*SHORT)
    loaded = load_run(run_dir)
    assert loaded.is_ema and loaded.iteration == 20 and loaded.record.status == "completed"
    samples = loaded.sample(2500, seed=loaded.config.eval.seed)
    assert samples.shape == (2500, 2)
    assert torch.equal(samples, loaded.sample(2500, seed=loaded.config.eval.seed))
    # the evaluation's own samples: the same metrics as the record
    from hydra.utils import instantiate

    mixture = instantiate(loaded.config.dataset).mixture
    again = mode_metrics(samples, mixture.centers, mixture.sigma)
    assert again["modes_captured"] == summary["metrics"]["modes_captured"]
    assert again["high_quality"] == pytest.approx(summary["metrics"]["high_quality"], abs=1e-12)
