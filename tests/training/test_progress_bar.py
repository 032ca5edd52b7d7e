"""The iteration progress bar: counts GAN iterations, is redrawn at most every ``min_interval``
seconds and every ``refresh_rate`` iterations, and always shows the last iteration."""

from __future__ import annotations

import io
import re
from types import SimpleNamespace

import pytest
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
    original = bar.train_progress_bar.set_postfix_str

    def set_postfix_str(*args, **kwargs):
        drawn.append(module.iteration)
        return original(*args, **kwargs)

    bar.train_progress_bar.set_postfix_str = set_postfix_str
    for _ in range(steps):
        clock["now"] += seconds_per_step
        module.iteration += per_step
        bar.on_train_batch_end(None, module, None, None, 0)
    return drawn, bar.train_progress_bar


def test_redrawn_at_most_every_min_interval_and_at_the_end(monkeypatch):
    # 35 ms per step of 10 iterations: a redraw every 6th step (0.21 s ≥ 0.2 s), plus the last
    drawn, bar = _drive(monkeypatch, min_interval=0.2, seconds_per_step=0.035)
    assert drawn == [10, 70, 130, 190, 250, 300]
    assert bar.n == 300 and bar.postfix == "d=1.23 g=0.5"


def test_slow_steps_are_each_shown(monkeypatch):
    drawn, _ = _drive(monkeypatch, min_interval=0.2, seconds_per_step=1.0, steps=5)
    assert drawn == [10, 20, 30, 40, 50]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("columns", [80, 120])
def test_the_bar_and_its_readout_fit_the_terminal(monkeypatch, columns):
    """At 80 and 120 columns the graphic keeps at least MIN_BAR cells and no readout entry is cut."""
    import os
    import shutil

    monkeypatch.setattr(shutil, "get_terminal_size", lambda fallback=(80, 24): os.terminal_size((columns, 24)))
    bar = tqdm(total=2500, file=Terminal(), bar_format=IterationProgressBar.BAR, ncols=columns)
    bar.set_description("iterations", refresh=False)
    bar.n = 1250
    latest = {"d_loss": 1.2811, "g_loss": 0.8523, "regularizer": 0.01234, "d_real": 0.5031, "d_fake": 0.4372}
    bar.set_postfix_str(IterationProgressBar.readout(latest, IterationProgressBar._room(bar)))
    line = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", bar.fp.getvalue().split("\r")[-1])  # cursor moves
    assert len(line) <= columns
    graphic = line.split("|")[1]
    assert len(graphic) >= IterationProgressBar.MIN_BAR
    entries = line.split("], ", 1)[1].split(" ")
    shown = dict(entry.split("=") for entry in entries)
    expected = {"d": "1.28", "g": "0.852", "D(x)": "0.503", "D(G(z))": "0.437", "reg": "0.0123"}
    assert all(expected[k] == v for k, v in shown.items()), shown  # whole values, none cut
    assert ("reg" in shown) == (columns == 120) and {"d", "g"} <= set(shown)
