"""Metrics go through ``self.log_dict``: ``trainer.callback_metrics`` holds the training and evaluation
metrics, stock Lightning callbacks can monitor them, and every logger still gets one row per log
point keyed by the GAN iteration."""

from __future__ import annotations

import csv
import math
import warnings
from pathlib import Path

import pytest
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint, ModelSummary, TQDMProgressBar
from lightning.pytorch.callbacks.early_stopping import EarlyStoppingReason

import ganbench.experiment as experiment
from ganbench.training.callbacks import EvaluationCallback, GracefulInterrupt, IterationEvents
from ganbench.training.overhead import callbacks_read_metrics

SHORT = ["iterations=20", "eval.every=10", "evaluator.num_samples=500", "checkpoint.every=10", "log_every=5"]
TRAINING = ("d_loss", "g_loss", "regularizer", "d_real", "d_fake", "d_grad_norm", "g_grad_norm")


@pytest.fixture
def with_callbacks(monkeypatch):
    """``with_callbacks(*callbacks)``: the next ``run`` adds them to its trainer; returns the built experiments."""
    built = []

    def install(*callbacks):
        def build(cfg, run_dir, *args, **kwargs):
            exp = real_build(cfg, run_dir, *args, **kwargs)
            exp.trainer.callbacks.extend(callbacks)
            built.append(exp)
            return exp

        real_build = experiment.build
        monkeypatch.setattr(experiment, "build", build)
        return built

    return install


def rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_callback_metrics_hold_the_last_logged_values(train, with_callbacks):
    built = with_callbacks()
    summary, run_dir = train("dataset=ring", *SHORT)
    trainer = built[0].trainer
    metrics = trainer.callback_metrics
    evaluated = summary["metrics"]
    assert {"modes_captured", "reverse_kl", "high_quality"} <= set(evaluated)
    for name, value in evaluated.items():  # the evaluation at iteration 20, as summary.json has it
        assert metrics[name].item() == pytest.approx(value, rel=1e-12, abs=1e-12), name
    # the training metrics of the last log point (iteration 20), as metrics.csv has them
    (last,) = [r for r in rows(run_dir) if r["d_loss"] and int(float(r["iteration"])) == 20]
    for name in TRAINING:
        assert metrics[name].item() == pytest.approx(float(last[name]), rel=1e-6), name
    assert all(v.device.type == "cpu" for v in metrics.values())  # never copied to the device
    assert "lr_d" not in metrics and last["lr_d"]  # learning rates: metrics.csv only (LearningRateMonitor's job)


def test_metrics_csv_stays_keyed_by_iteration(train):
    _, run_dir = train("dataset=ring", *SHORT)
    table = rows(run_dir)
    training = [r for r in table if r["d_loss"]]
    evals = [r for r in table if r["modes_captured"]]
    assert [int(float(r["iteration"])) for r in training] == [1, 5, 10, 15, 20]
    assert [int(float(r["iteration"])) for r in evals] == [10, 20]
    assert all(float(r["step"]) == float(r["iteration"]) for r in table)  # the x-axis is the iteration
    # each metric appears only where it was measured: never a stale copy in a later row
    assert all(not r["modes_captured"] for r in training) and all(not r["d_loss"] for r in evals)
    assert len(table) == len(training) + len(evals)


def test_stock_early_stopping_monitors_an_evaluation_metric(train, with_callbacks):
    # strict: a metric missing from callback_metrics raises. Checked at the end of each train epoch
    # (the toy run is one epoch). Any finite reverse KL is below the threshold, so reading it stops the run.
    stop = EarlyStopping(
        monitor="reverse_kl", mode="min", strict=True, check_on_train_epoch_end=True, stopping_threshold=1e9
    )
    built = with_callbacks(stop)
    summary, run_dir = train("dataset=ring", *SHORT)
    assert summary["status"] == "completed"
    assert built[0].trainer.should_stop  # it read reverse_kl and acted on it
    assert stop.stopping_reason == EarlyStoppingReason.STOPPING_THRESHOLD
    last = [float(r["reverse_kl"]) for r in rows(run_dir) if r["reverse_kl"]][-1]
    assert f"reverse_kl = {last} <" in stop.stopping_reason_message  # the value it read: iteration 20's


def test_early_stopping_on_a_missing_metric_fails_loudly(train, with_callbacks):
    # the control: the same stock callback on a name nobody logs is refused by Lightning
    with_callbacks(EarlyStopping(monitor="not_logged", mode="min", strict=True, check_on_train_epoch_end=True))
    with pytest.raises(RuntimeError, match="not_logged"):
        train("dataset=ring", *SHORT)


def test_model_checkpoint_on_a_metric_keeps_the_best_iteration(train, with_callbacks, tmp_path):
    # Lightning's own ModelCheckpoint, monitoring an evaluation metric every eval.every iterations
    # (global_step counts both optimisers' steps, so 10 iterations are 20 steps).
    best = ModelCheckpoint(dirpath=tmp_path / "best", monitor="reverse_kl", mode="min", every_n_train_steps=20)
    with_callbacks(best)
    _, run_dir = train("dataset=ring", *SHORT)
    evals = {int(float(r["iteration"])): float(r["reverse_kl"]) for r in rows(run_dir) if r["reverse_kl"]}
    assert best.best_model_score is not None
    assert best.best_model_score.item() == pytest.approx(min(evals.values()), rel=1e-6)
    assert not math.isnan(best.best_model_score.item())


def tensorboard_scalars(root: Path) -> dict[str, list[tuple[int, float]]]:
    """(step, value) of every scalar in the TensorBoard event files under ``root``, read from the
    TFRecord framing (length, CRC, Event proto, CRC) with tensorboardX's Event proto."""
    import struct

    from tensorboardX.proto.event_pb2 import Event

    scalars: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(root.rglob("events.out.tfevents.*")):
        data, pos = path.read_bytes(), 0
        while pos < len(data):
            (length,) = struct.unpack("<Q", data[pos : pos + 8])
            event = Event.FromString(data[pos + 12 : pos + 12 + length])
            pos += 12 + length + 4
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars


def test_tensorboard_plots_every_metric_at_its_iteration(train):
    _, run_dir = train("dataset=ring", "logger=tensorboard", *SHORT)
    scalars = tensorboard_scalars(run_dir / "tensorboard")
    table = rows(run_dir)
    for name in ("d_loss", "g_grad_norm", "modes_captured", "reverse_kl"):
        from_csv = [(int(float(r["iteration"])), float(r[name])) for r in table if r[name]]
        assert [s for s, _ in scalars[name]] == [s for s, _ in from_csv], name
        assert [v for _, v in scalars[name]] == pytest.approx([v for _, v in from_csv], rel=1e-6), name
    assert [s for s, _ in scalars["d_loss"]] == [1, 5, 10, 15, 20]


def test_no_logging_interval_warning_on_a_short_run(train, recwarn):
    # log_every_n_steps=1: Lightning filters nothing, so it never warns that the run is shorter
    # than its logging interval (that warning was filtered out before)
    warnings.simplefilter("always")
    train("dataset=ring", "iterations=4", "log_every=20", "eval.every=4", "checkpoint.every=4")
    assert not [w for w in recwarn if "logging interval" in str(w.message)]


def count_log_dict_calls(monkeypatch) -> list[list[str]]:
    """The sorted keys of every ``GANModule.log_dict`` call of the next run."""
    from ganbench.training.module import GANModule

    calls: list[list[str]] = []
    real = GANModule.log_dict
    monkeypatch.setattr(GANModule, "log_dict", lambda self, d, **kw: (calls.append(sorted(d)), real(self, d, **kw)))
    return calls


def test_one_self_log_dict_per_lightning_step(train, with_callbacks, monkeypatch):
    # log_every=1 with 10 iterations per Lightning step: 20 rows in metrics.csv, but callbacks run only
    # after each step, so Lightning gets the step's last values once (self.log costs ~0.3-0.6 ms a call)
    calls = count_log_dict_calls(monkeypatch)
    built = with_callbacks(Callback())  # a callback that may read callback_metrics
    _, run_dir = train(
        "dataset=ring", "iterations=20", "log_every=1", "iterations_per_step=10", "eval.every=10",
        "module.callback_metrics_every=1",
    )  # fmt: skip
    training = [r for r in rows(run_dir) if r["d_loss"]]
    assert [int(float(r["iteration"])) for r in training] == list(range(1, 21))
    assert sum("d_loss" in keys for keys in calls) == 2  # steps [1, 10] and [11, 20]
    assert sum("modes_captured" in keys for keys in calls) == 2
    assert built[0].trainer.callback_metrics["d_loss"].item() == pytest.approx(float(training[-1]["d_loss"]))


def test_training_metrics_reach_lightning_every_callback_metrics_every(train, with_callbacks, monkeypatch):
    # default 100: of the log points 1, 10, 20, …, 250 only 100, 200 and the last iteration (250) are
    # handed over; every evaluation is. callback_metrics holds iteration 250's values at the end.
    calls = count_log_dict_calls(monkeypatch)
    seen = []

    class Spy(__import__("lightning").pytorch.Callback):
        def on_train_batch_end(self, trainer, pl_module, *args):
            if "d_loss" in trainer.callback_metrics:
                seen.append((pl_module.iteration, trainer.callback_metrics["d_loss"].item()))

    with_callbacks(Spy())
    _, run_dir = train("dataset=ring", "iterations=250", "eval.every=125", "checkpoint.every=null")
    table = rows(run_dir)
    d_loss = {int(float(r["iteration"])): float(r["d_loss"]) for r in table if r["d_loss"]}
    assert sorted(d_loss) == [1, *range(10, 251, 10)]
    assert sum("d_loss" in keys for keys in calls) == 3
    assert sum("modes_captured" in keys for keys in calls) == 2  # iterations 125 and 250
    # what a callback reads after each step: the value of the latest multiple of 100 (or the last iteration)
    for iteration, value in seen:
        handed = 250 if iteration == 250 else iteration // 100 * 100
        assert value == pytest.approx(d_loss[handed], rel=1e-6), iteration
    assert [i for i, _ in seen][0] == 100


def test_without_a_reading_callback_training_metrics_reach_lightning_at_the_last_iteration(train, monkeypatch):
    # no callback of the run reads callback_metrics during it (ganbench's own, its progress bar):
    # the training metrics are handed over once, at the last iteration; every evaluation still is
    calls = count_log_dict_calls(monkeypatch)
    train(
        "dataset=ring", "iterations=250", "eval.every=125", "checkpoint.every=null", "trainer.enable_progress_bar=true"
    )
    assert sum("d_loss" in keys for keys in calls) == 1
    assert sum("modes_captured" in keys for keys in calls) == 2


def test_which_callbacks_may_read_callback_metrics(tmp_path):
    own = IterationEvents(EvaluationCallback(object(), 10, tmp_path), GracefulInterrupt())
    assert not callbacks_read_metrics([own, ModelSummary(), TQDMProgressBar()])
    assert callbacks_read_metrics([own, EarlyStopping(monitor="reverse_kl")])
    assert callbacks_read_metrics([IterationEvents(GracefulInterrupt(), Callback())])
    assert not callbacks_read_metrics([])
