"""TimeoutRequeue in-process: who gets submitit's time-limit signal, in and out of training. (The real
submitit round trip, signal → last.ckpt → requeue → resume, is in test_multirun.py.)"""

from __future__ import annotations

import signal

import pytest

from ganbench.requeue import TimeoutRequeue
from ganbench.training.callbacks import GracefulInterrupt


@pytest.fixture
def restore_signals():
    saved = {s: signal.getsignal(s) for s in (signal.SIGUSR2, signal.SIGTERM, signal.SIGINT)}
    yield
    for s, h in saved.items():
        signal.signal(s, h)


def submitit_job(monkeypatch):
    """The environment submitit gives a local job's process."""
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "local")
    monkeypatch.setenv("SUBMITIT_LOCAL_JOB_ID", "123")


def test_not_installed_outside_submitit(monkeypatch, restore_signals):
    for var in ("SUBMITIT_LOCAL_JOB_ID", "SLURM_JOB_ID", "SUBMITIT_EXECUTOR"):
        monkeypatch.delenv(var, raising=False)
    assert TimeoutRequeue.install() is None
    # submitit's environment without submitit's handler in place: nothing would requeue, so leave the
    # signal alone
    submitit_job(monkeypatch)
    signal.signal(signal.SIGUSR2, signal.SIG_DFL)
    assert TimeoutRequeue.install() is None
    assert signal.getsignal(signal.SIGUSR2) == signal.SIG_DFL


def test_signal_deferred_to_the_iteration_boundary_while_training(monkeypatch, restore_signals):
    submitit_job(monkeypatch)
    calls = []
    signal.signal(signal.SIGUSR2, lambda signum, frame: calls.append(signum))  # stands for submitit's handler
    requeue = TimeoutRequeue.install()
    assert requeue is not None and signal.getsignal(signal.SIGUSR2) == requeue._on_signal

    interrupt = GracefulInterrupt()
    interrupt.on_train_start(None, None)  # training: GracefulInterrupt holds SIGINT and SIGTERM
    signal.raise_signal(signal.SIGUSR2)
    assert interrupt.received == "SIGUSR2" and requeue.received
    assert calls == []  # not requeued yet: the run first stops and saves last.ckpt
    interrupt.on_train_end(None, None)
    requeue.requeue()  # what ganbench-train does once the run has stopped
    assert calls == [signal.SIGUSR2]
    assert signal.getsignal(signal.SIGUSR2) == requeue.submitit_handler


def test_signal_outside_training_requeues_at_once(monkeypatch, restore_signals):
    submitit_job(monkeypatch)
    calls = []
    signal.signal(signal.SIGUSR2, lambda signum, frame: calls.append(signum))
    requeue = TimeoutRequeue.install()
    signal.raise_signal(signal.SIGUSR2)
    assert calls == [signal.SIGUSR2] and requeue.received
