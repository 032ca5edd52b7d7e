"""Metrics go through ``self.log_dict``: ``trainer.callback_metrics`` holds the training and evaluation
metrics, stock Lightning callbacks can monitor them, and every logger still gets one row per log
point keyed by the GAN iteration."""

from __future__ import annotations

import csv
import math
import warnings
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelSummary, TQDMProgressBar

from ganbench.errors import ConfigError
from ganbench.training.callbacks import EvaluationCallback, GracefulInterrupt, IterationEvents
from ganbench.training.overhead import callbacks_read_metrics
from ganbench.validation import TRAINING_METRICS

SHORT = ["iterations=20", "eval.every=10", "evaluator.num_samples=500", "checkpoint.every=10", "log_every=5"]


class Spy(Callback):
    """A callback of one's own, chosen from the config (``+callbacks.spy._target_=…``): it keeps the
    trainer and what ``callback_metrics`` held after each Lightning step. ``reads=false``: it
    declares that it does not read them during the run (as ganbench's own callbacks do)."""

    built: list[Spy] = []

    def __init__(self, reads: bool = True) -> None:
        self.reads_callback_metrics = reads
        self.trainer = None
        self.seen: list[tuple[int, float]] = []
        Spy.built.append(self)

    def setup(self, trainer, pl_module, stage: str) -> None:
        self.trainer = trainer

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:
        if "d_loss" in trainer.callback_metrics:
            self.seen.append((pl_module.iteration, trainer.callback_metrics["d_loss"].item()))


@pytest.fixture
def spy():
    """The overrides that add a :class:`Spy` to the next run's callbacks; the spy is ``Spy.built[-1]``."""
    Spy.built.clear()
    return [f"+callbacks.spy._target_={__name__}.Spy"]


def rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_callback_metrics_hold_the_last_logged_values(train, spy):
    summary, run_dir = train("dataset=ring", *SHORT, *spy, "+callbacks.spy.reads=false")
    trainer = Spy.built[-1].trainer
    metrics = trainer.callback_metrics
    evaluated = summary["metrics"]
    assert {"modes_captured", "reverse_kl", "high_quality"} <= set(evaluated)
    for name, value in evaluated.items():  # the evaluation at iteration 20, as summary.json has it
        assert metrics[name].item() == pytest.approx(value, rel=1e-12, abs=1e-12), name
    # the training metrics of the last log point (iteration 20), as metrics.csv has them
    (last,) = [r for r in rows(run_dir) if r["d_loss"] and int(float(r["iteration"])) == 20]
    # what a callback may monitor (validation refuses any other name): exactly these
    assert set(metrics) == set(evaluated) | set(TRAINING_METRICS)
    for name in TRAINING_METRICS:
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


def last_checkpoint(run_dir: Path, name: str = "last.ckpt") -> dict:
    return torch.load(run_dir / "checkpoints" / name, map_location="cpu", weights_only=False)


def callback_state(checkpoint: dict, kind: str) -> dict:
    (state,) = [v for k, v in checkpoint["callbacks"].items() if k.startswith(kind)]
    return state


def test_early_stopping_from_the_config_stops_at_the_evaluation_that_meets_it(train):
    # conf/callbacks/early_stopping.yaml: Lightning's EarlyStopping, checked after every evaluation.
    # strict: a metric missing from callback_metrics raises. Any finite reverse KL is below the
    # threshold, so the first evaluation (iteration 10 of 20) stops the run there.
    summary, run_dir = train(
        "dataset=ring", *SHORT, "+callbacks=early_stopping", "callbacks.early_stopping.monitor=reverse_kl",
        "callbacks.early_stopping.stopping_threshold=1e9",
    )  # fmt: skip
    assert summary["status"] == "completed" and summary["iterations"] == 10
    evals = [(int(float(r["iteration"])), float(r["reverse_kl"])) for r in rows(run_dir) if r["reverse_kl"]]
    assert [i for i, _ in evals] == [10]
    checkpoint = last_checkpoint(run_dir)  # the stop is saved at its iteration, for resume= iterations=…
    assert checkpoint["ganbench"]["iteration"] == 10
    state = callback_state(checkpoint, "IterationEarlyStopping")  # saved after its decision
    assert f"reverse_kl = {evals[0][1]} <" in state["stopping_reason_message"]  # the value it read: iteration 10's


def test_early_stopping_on_a_metric_nobody_logs_is_refused_before_training(train, tmp_path):
    # the control: the same callback on a name nobody logs (Lightning would raise at its first check)
    with pytest.raises(ConfigError, match="callbacks.early_stopping.monitor=not_logged is not a metric this run logs"):
        train("dataset=ring", *SHORT, "+callbacks=early_stopping", "callbacks.early_stopping.monitor=not_logged")
    assert not (tmp_path / "run1").exists()


def test_model_checkpoint_from_the_config_keeps_the_best_evaluation(train):
    # conf/callbacks/model_checkpoint.yaml: Lightning's own ModelCheckpoint, in checkpoints/best.ckpt
    _, run_dir = train(
        "dataset=ring", "iterations=40", "eval.every=10", "evaluator.num_samples=500", "checkpoint.every=20",
        "+callbacks=model_checkpoint", "callbacks.model_checkpoint.monitor=reverse_kl",
    )  # fmt: skip
    evals = {int(float(r["iteration"])): float(r["reverse_kl"]) for r in rows(run_dir) if r["reverse_kl"]}
    assert sorted(evals) == [10, 20, 30, 40]
    best = min(evals, key=evals.get)
    checkpoint = last_checkpoint(run_dir, "best.ckpt")
    assert checkpoint["ganbench"]["iteration"] == best  # saved right after that evaluation
    score = callback_state(checkpoint, "ModelCheckpoint")["best_model_score"].item()
    assert score == pytest.approx(evals[best], rel=1e-6) and not math.isnan(score)
    assert last_checkpoint(run_dir)["ganbench"]["iteration"] == 40  # ganbench's own last.ckpt untouched


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


def test_one_self_log_dict_per_lightning_step(train, spy, monkeypatch):
    # log_every=1 with 10 iterations per Lightning step: 20 rows in metrics.csv, but callbacks run only
    # after each step, so Lightning gets the step's last values once (self.log costs ~0.3-0.6 ms a call)
    calls = count_log_dict_calls(monkeypatch)
    _, run_dir = train(  # the spy: a callback that may read callback_metrics
        "dataset=ring", "iterations=20", "log_every=1", "iterations_per_step=10", "eval.every=10",
        "module.callback_metrics_every=1", *spy,
    )  # fmt: skip
    training = [r for r in rows(run_dir) if r["d_loss"]]
    assert [int(float(r["iteration"])) for r in training] == list(range(1, 21))
    assert sum("d_loss" in keys for keys in calls) == 2  # steps [1, 10] and [11, 20]
    assert sum("modes_captured" in keys for keys in calls) == 2
    assert Spy.built[-1].trainer.callback_metrics["d_loss"].item() == pytest.approx(float(training[-1]["d_loss"]))


def test_training_metrics_reach_lightning_every_callback_metrics_every(train, spy, monkeypatch):
    # default 100: of the log points 1, 10, 20, …, 250 only 100, 200 and the last iteration (250) are
    # handed over; every evaluation is. callback_metrics holds iteration 250's values at the end.
    calls = count_log_dict_calls(monkeypatch)
    _, run_dir = train("dataset=ring", "iterations=250", "eval.every=125", "checkpoint.every=null", *spy)
    seen = Spy.built[-1].seen
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
