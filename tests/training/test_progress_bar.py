"""The iteration progress bar: counts GAN iterations, is redrawn at most every ``min_interval``
seconds and every ``refresh_rate`` iterations, and always shows the last iteration."""

from __future__ import annotations

import io
from types import SimpleNamespace

from tqdm import tqdm

from ganbench.training import callbacks
from ganbench.training.callbacks import IterationProgressBar


def _drive(monkeypatch, min_interval: float, seconds_per_step: float, steps: int = 30, per_step: int = 10):
    """Run the bar through ``steps`` steps of ``per_step`` iterations on a fake clock; return the
    iterations at which it was redrawn and the bar."""
    clock = {"now": 1000.0}
    monkeypatch.setattr(callbacks.time, "monotonic", lambda: clock["now"])
    bar = IterationProgressBar(refresh_rate=10, min_interval=min_interval)
    bar.train_progress_bar = tqdm(total=steps * per_step, file=io.StringIO())
    bar._shown = 0
    drawn = []
    module = SimpleNamespace(iteration=0, latest={"d_loss": 1.2345, "g_loss": 0.5})
    original = bar.train_progress_bar.set_postfix

    def set_postfix(*args, **kwargs):
        drawn.append(module.iteration)
        return original(*args, **kwargs)

    bar.train_progress_bar.set_postfix = set_postfix
    for _ in range(steps):
        clock["now"] += seconds_per_step
        module.iteration += per_step
        bar.on_train_batch_end(None, module, None, None, 0)
    return drawn, bar.train_progress_bar


def test_redrawn_at_most_every_min_interval_and_at_the_end(monkeypatch):
    # 35 ms per step of 10 iterations: a redraw every 6th step (0.21 s ≥ 0.2 s), plus the last
    drawn, bar = _drive(monkeypatch, min_interval=0.2, seconds_per_step=0.035)
    assert drawn == [10, 70, 130, 190, 250, 300]
    assert bar.n == 300 and bar.postfix == "d_loss=1.23, g_loss=0.5"


def test_slow_steps_are_each_shown(monkeypatch):
    drawn, _ = _drive(monkeypatch, min_interval=0.2, seconds_per_step=1.0, steps=5)
    assert drawn == [10, 20, 30, 40, 50]
