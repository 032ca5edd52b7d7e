"""The Trainer's callbacks come from the ``callbacks`` config group (``conf/callbacks/``): the
default list is ganbench's own, in their order; stock presets are added and ganbench's progress
bar removed from the command line, as docs/lightning.md shows; what cannot be removed, or is
misspelt, is refused in one line."""

from __future__ import annotations

import csv
import re
import shlex
from pathlib import Path

import pytest
import torch
from hydra.errors import ConfigCompositionException
from lightning.pytorch.callbacks import ProgressBar
from omegaconf import OmegaConf

from ganbench.config import compose
from ganbench.errors import ConfigError
from ganbench.experiment import build
from ganbench.training.callbacks import (
    EvaluationCallback,
    GracefulInterrupt,
    IterationCheckpoint,
    IterationEvents,
    IterationProgressBar,
)
from ganbench.trusted_targets import untrusted_targets
from ganbench.validation import validate_config
from test_user_errors import SHORT, assert_one_line_error, cli

ROOT = Path(__file__).resolve().parents[1]


# docs/lightning.md's section on the callbacks group, and its ``$ ganbench-train …`` lines as arguments
DOC = (ROOT / "docs" / "lightning.md").read_text().split("## The Trainer's callbacks", 1)[1].split("\n## ", 1)[0]
COMMANDS = [shlex.split(line)[2:] for line in re.findall(r"^\$ ganbench-train .*$", DOC, flags=re.M)]


def run_dir_of(cwd: Path) -> Path:
    (run_dir,) = [p.parent for p in cwd.glob("runs/*/*/*/summary.json")]
    return run_dir


def evaluations(run_dir: Path, metric: str) -> list[tuple[int, float]]:
    with open(run_dir / "metrics.csv", newline="") as f:
        return [(int(float(r["iteration"])), float(r[metric])) for r in csv.DictReader(f) if r[metric]]


def iteration_of(checkpoint: Path) -> int:
    return torch.load(checkpoint, map_location="cpu", weights_only=False)["ganbench"]["iteration"]


# ------------------------------------------------------------------------- the default list
def test_the_default_config_builds_today_s_callbacks_in_today_s_order(tmp_path):
    overrides = ["eval.every=7", "eval.seed=5", "eval.repeats=2", "eval.best=true", "checkpoint.every=3", "log_every=4"]
    cfg = compose(overrides)
    assert list(cfg.callbacks) == ["evaluation", "signals", "checkpoint", "progress_bar"]
    interrupt = GracefulInterrupt()
    exp = build(cfg, tmp_path / "run", interrupt)
    own, bar = exp.trainer.callbacks  # no Lightning default (ModelCheckpoint, its own progress bar) added
    assert isinstance(own, IterationEvents)
    assert [type(cb) for cb in own.callbacks] == [EvaluationCallback, GracefulInterrupt, IterationCheckpoint]
    assert own.callbacks == [exp.evaluation, exp.interrupt, exp.checkpoint] and exp.interrupt is interrupt
    # the root keys' settings, as the command line gave them
    evaluation = exp.evaluation
    assert (evaluation.every, evaluation.seed, evaluation.repeats) == (7, 5, 2)
    assert evaluation.best is not None and evaluation.renderer is not None  # eval.best, eval.background_plots
    assert evaluation.plot_dir == tmp_path / "run" / "plots"
    assert (exp.checkpoint.every, exp.checkpoint.dirpath) == (3, tmp_path / "run" / "checkpoints")
    assert type(bar) is IterationProgressBar and bar.refresh_rate == 4
    assert exp.trainer.progress_bar_callback is bar and exp.trainer.checkpoint_callback is None


def test_without_the_progress_bar_there_is_none_at_all(tmp_path):
    for overrides in (["trainer.enable_progress_bar=false"], ["~callbacks.progress_bar"]):
        exp = build(compose(overrides), tmp_path / "run")
        assert exp.trainer.progress_bar_callback is None, overrides
        assert not any(isinstance(cb, ProgressBar) for cb in exp.trainer.callbacks), overrides


def test_stock_presets_come_after_ganbench_s_own(tmp_path):
    cfg = compose(
        ["+callbacks=[early_stopping,lr_monitor]", "callbacks.early_stopping.monitor=reverse_kl", "eval.every=7"]
    )
    exp = build(cfg, tmp_path / "run")
    names = [type(cb).__name__ for cb in exp.trainer.callbacks]
    assert names == ["IterationEvents", "IterationProgressBar", "IterationEarlyStopping", "LearningRateMonitor"]
    stop = exp.trainer.callbacks[2]
    assert (stop.monitor, stop.every, stop.patience) == ("reverse_kl", 7, 3)  # checked at every evaluation


# ------------------------------------------------------------------------- the documented commands
def test_early_stopping_from_the_command_line(tmp_path):
    (args,) = [c for c in COMMANDS if "+callbacks=early_stopping" in c]
    done = cli(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = run_dir_of(tmp_path)
    evals = evaluations(run_dir, "reverse_kl")
    # patience=1: the first evaluation whose reverse KL is not below the best before it ends the run
    best, stop = evals[0][1], None
    for iteration, value in evals[1:]:
        if value >= best:
            stop = iteration
            break
        best = value
    assert stop is not None and stop < 300, evals  # it did stop early
    assert f"first command stops at iteration {stop}," in DOC  # as docs/lightning.md says
    assert evals[-1][0] == stop  # no evaluation after the stop
    assert f"run completed after {stop} iterations" in done.stdout
    assert f"{stop}/300" in done.stdout.rsplit("iterations:", 1)[1]  # the bar ends where the run did
    assert iteration_of(run_dir / "checkpoints" / "last.ckpt") == stop
    assert OmegaConf.load(run_dir / "config.yaml").callbacks.early_stopping.monitor == "reverse_kl"


def test_model_checkpoint_from_the_command_line(tmp_path):
    (args,) = [c for c in COMMANDS if "+callbacks=model_checkpoint" in c]
    done = cli(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = run_dir_of(tmp_path)
    evals = dict(evaluations(run_dir, "reverse_kl"))
    assert sorted(evals) == [25, 50, 75, 100]
    assert iteration_of(run_dir / "checkpoints" / "best.ckpt") == min(evals, key=evals.get)


def test_removing_the_progress_bar_from_the_command_line(tmp_path):
    (args,) = [c for c in COMMANDS if "~callbacks.progress_bar" in c]
    done = cli(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "run completed after 50 iterations" in done.stdout
    # neither ganbench's bar ("iterations: …") nor Lightning's ("Epoch 0", "Training")
    output = done.stdout + done.stderr
    assert "iterations:" not in output and "Epoch" not in output and "it/s" not in output, output
    # the control: the same run with the default list draws the bar
    (tmp_path / "control").mkdir()
    control = cli(*[a for a in args if a != "~callbacks.progress_bar"], cwd=tmp_path / "control")
    assert "iterations:" in control.stdout and "50/50" in control.stdout


def test_monitoring_fid_is_accepted_for_an_image_run_and_refused_for_a_toy_run():
    # README's form; validation knows each evaluator's metrics without building anything
    fid = ["+callbacks=early_stopping", "callbacks.early_stopping.monitor=fid"]
    validate_config(compose(["dataset=cifar10", "model=dcgan", *fid]))
    with pytest.raises(ConfigError, match="monitor=fid is not a metric this run logs; use one of: modes_captured"):
        validate_config(compose(fid))


# ------------------------------------------------------------------------- refused in one line
@pytest.mark.parametrize(
    "overrides, words",
    [
        (["~callbacks.evaluation"], ["callbacks.evaluation cannot be removed", "eval.every=null"]),
        (["~callbacks.checkpoint"], ["callbacks.checkpoint cannot be removed", "checkpoint.every=null"]),
        (["~callbacks.signals"], ["callbacks.signals cannot be removed"]),
        (["+callbacks=early_stopping"], ["callbacks.early_stopping.monitor is not set"]),
        (["+callbacks=early_stopping", "callbacks.early_stopping.monitor=reverse_kll"],
         ["callbacks.early_stopping.monitor=reverse_kll is not a metric this run logs", "reverse_kl", "d_loss"]),
        (["callbacks.early_stoping.monitor=fid"], ["callbacks.early_stoping is not a setting"]),  # as any typo
        (["+callbacks.mine._target_=collections.OrderedDict"],
         ["callbacks.mine._target_=collections.OrderedDict is not a lightning.pytorch.callbacks"]),
    ],
)  # fmt: skip
def test_callback_mistakes_are_one_line_and_write_nothing(tmp_path, overrides, words):
    run_dir = tmp_path / "run"
    done = cli(*SHORT, *overrides, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert_one_line_error(done, *words)
    assert not run_dir.exists()


@pytest.mark.parametrize(
    "override, word",
    [
        ("callbacks.early_stoping.monitor=fid", "early_stoping"),
        ("~callbacks.progres_bar", "progres_bar"),
        ("+callbacks=early_stoping", "early_stoping"),
        ("callbacks.evaluation.evry=3", "evry"),
    ],
)
def test_a_misspelt_callback_is_refused_when_the_config_is_composed(override, word):
    # as a misspelt root key (tests/test_validation.py): Hydra refuses it, naming it
    with pytest.raises(ConfigCompositionException) as err:
        compose([override])
    assert word in str(err.value.__cause__ or err.value)


# ------------------------------------------------------------------------- resume= trusts them
def test_the_callbacks_targets_are_trusted_on_resume():
    cfg = OmegaConf.to_container(compose(["+callbacks=[early_stopping,model_checkpoint,lr_monitor]"]), resolve=False)
    cfg.pop("hydra")
    cfg["callbacks"]["swa"] = {"_target_": "lightning.pytorch.callbacks.StochasticWeightAveraging"}
    assert untrusted_targets(cfg, {}) == []
    # by their public names only: not whatever a module of the package imports
    system = cfg["callbacks"]["swa"]["_target_"] = "lightning.pytorch.callbacks.model_checkpoint.os.system"
    assert untrusted_targets(cfg, {}) == [("callbacks.swa._target_", system)]
