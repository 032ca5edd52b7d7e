"""Evaluation plots rendered by a worker process (``eval.background_plots``, on by default): the
same files as plots rendered in the training process, all written before the run returns, the
last one at once, and none sent to the worker when a logger shows images."""

from __future__ import annotations

import pytest

from ganbench.rendering import BackgroundRenderer

RUN = ("iterations=300", "eval.every=100", "checkpoint.every=null")


@pytest.fixture
def submitted(monkeypatch):
    """The iterations whose plot went to a worker, and the worker processes started."""
    seen = {"iterations": [], "processes": []}
    submit, start = BackgroundRenderer.submit, BackgroundRenderer._start

    def spy_submit(self, job, tag=None):
        seen["iterations"].append(tag)
        return submit(self, job, tag)

    def spy_start(self):
        process = start(self)
        seen["processes"].append(process)
        return process

    monkeypatch.setattr(BackgroundRenderer, "submit", spy_submit)
    monkeypatch.setattr(BackgroundRenderer, "_start", spy_start)
    return seen


def test_background_plots_are_the_files_the_training_process_would_write(train, submitted):
    summary, background = train(*RUN)
    assert submitted["iterations"] == [100, 200]  # the last evaluation's plot is made at once
    assert len(submitted["processes"]) == 1
    assert submitted["processes"][0].wait(timeout=30) == 0  # the worker exits after the run
    summary_here, here = train(*RUN, "eval.background_plots=false")
    assert submitted["iterations"] == [100, 200]  # nothing more went to a worker
    names = ["samples_000100.png", "samples_000200.png", "samples_000300.png"]
    assert sorted(p.name for p in (background / "plots").iterdir()) == names
    for name in names:  # the runs are identical, so their plots are, byte for byte
        assert (background / "plots" / name).read_bytes() == (here / "plots" / name).read_bytes()
    assert summary["plot"].endswith("samples_000300.png") and summary_here["plot"].endswith("samples_000300.png")


def test_plots_are_made_at_once_for_a_logger_that_shows_images(train, submitted):
    _, run_dir = train(*RUN, "logger=tensorboard")
    assert submitted["iterations"] == [] and submitted["processes"] == []
    assert len(list((run_dir / "plots").iterdir())) == 3


def test_the_evaluation_callback_pickles_for_ddp_spawn(tmp_path):
    import pickle

    from ganbench.training.callbacks import EvaluationCallback

    callback = EvaluationCallback(object(), 100, tmp_path, background_plots=True)
    copy = pickle.loads(pickle.dumps(callback))
    assert copy.renderer is not None and copy.renderer.pending == 0


def test_a_plot_failing_at_teardown_does_not_hide_the_error_that_ended_the_run(tmp_path, caplog):
    # after an error, teardown finishes the worker's jobs; a plot that fails then is only reported
    import logging

    from ganbench.rendering import RenderJob
    from ganbench.training.callbacks import EvaluationCallback

    callback = EvaluationCallback(object(), 100, tmp_path, background_plots=True)
    callback.renderer.submit(RenderJob("test_rendering:always_fails", tmp_path / "a.png"), 100)
    with caplog.at_level(logging.WARNING):
        callback.teardown(None, None, "fit")
    assert "could not finish the evaluation plots: cannot plot this" in caplog.text
    assert callback.renderer.pending == 0 and callback.renderer.process is None
