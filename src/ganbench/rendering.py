"""Render plots in a worker process, off the training loop.

A toy evaluation's scatter plot takes 50–100 ms of matplotlib work (drawing and PNG encoding), as
long as 15–30 training iterations of the default toy model. Matplotlib holds the GIL while it
draws, so a thread would not overlap it with training; a separate process does, on a second core.

A plot is described by a :class:`RenderJob`: a function named by its import path, its keyword
arguments (numpy arrays, strings, numbers) and the output path. :func:`render` runs a job in this
process; :class:`BackgroundRenderer` sends jobs to a worker (``python -m ganbench.rendering``,
which imports only what the job's function imports: numpy and matplotlib for the toy scatter) and
reports them as they complete. The worker is an accelerator only: a job it fails to render (an
error, a worker that died or could not start) is rendered again here, so the files written are
the same with or without it, and a genuine plotting error is raised here as usual. The functions
write atomically (a temporary file, then a rename), so a plot file is either complete or absent.

Protocol: pickled ``(sequence number, function, kwargs, path)`` tuples on the worker's stdin;
pickled ``(sequence number, error text or None)`` replies on a private copy of its stdout (its
``sys.stdout`` goes to stderr, so a stray print cannot corrupt the replies). The worker exits when
its stdin closes: when the renderer is closed, or when the training process ends for any reason.
"""

from __future__ import annotations

import importlib
import logging
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenderJob:
    """``function(path=path, **kwargs)``, where ``function`` is ``"package.module:name"``."""

    function: str
    path: Path
    kwargs: dict[str, Any] = field(default_factory=dict)


def _resolve(function: str) -> Callable[..., Any]:
    module, _, name = function.partition(":")
    return getattr(importlib.import_module(module), name)


def render(job: RenderJob) -> Path:
    """Run ``job`` in this process; return its path."""
    _resolve(job.function)(path=Path(job.path), **job.kwargs)
    return Path(job.path)


class BackgroundRenderer:
    """Renders :class:`RenderJob` s in a worker process, started at the first :meth:`submit`.

    :meth:`submit` returns at once. :meth:`completed` returns the jobs finished since the last
    call, without waiting; :meth:`drain` waits for all. Both re-render here, with a warning, any
    job the worker failed. :meth:`close` drains and stops the worker.
    """

    def __init__(self, timeout: float = 120.0) -> None:
        self.timeout = timeout  # seconds drain() waits for one job before rendering it here
        self._process: subprocess.Popen | None = None
        self._outbox: queue.Queue[bytes | None] | None = None  # jobs for the sender thread
        self._replies: queue.Queue[tuple[int, tuple[int, str | None] | None]] = queue.Queue()
        self._generation = 0  # replies of a stopped worker are ignored
        self._pending: dict[int, tuple[RenderJob, Any]] = {}
        self._next = 0
        self._broken: str | None = None  # why the worker is not used any more

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (``ddp_spawn`` pickles the trainer and its callbacks) without its worker, its
        reply queue or jobs in flight: a copy starts its own worker at its first job."""
        if self._pending:
            raise RuntimeError("a BackgroundRenderer with jobs in flight cannot be pickled; drain() it first")
        state = dict(self.__dict__)
        state.update(_process=None, _outbox=None, _replies=None, _broken=None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._replies = queue.Queue()
        self._generation += 1

    @property
    def pending(self) -> int:
        """Jobs submitted and not yet reported."""
        return len(self._pending)

    @property
    def process(self) -> subprocess.Popen | None:
        """The worker process (None before the first job, or when it could not start)."""
        return self._process

    def submit(self, job: RenderJob, tag: Any = None) -> None:
        """Queue ``job``; ``tag`` comes back with it from :meth:`completed` / :meth:`drain`."""
        seq, self._next = self._next, self._next + 1
        self._pending[seq] = (job, tag)
        if self._broken is None:
            try:
                self._send(seq, job)
                return
            except (OSError, pickle.PicklingError, TypeError, AttributeError, ValueError) as error:
                self._give_up(f"could not send a job to the plot worker: {error}")
        # no worker: the job is rendered here when it is collected

    def completed(self) -> list[tuple[RenderJob, Any]]:
        """The jobs finished since the last call (in submission order), without waiting."""
        done: list[tuple[RenderJob, Any]] = []
        while True:
            try:
                done.extend(self._settle(*self._replies.get_nowait()))
            except queue.Empty:
                break
        return done + self._render_rest_here()

    def drain(self) -> list[tuple[RenderJob, Any]]:
        """Wait until every submitted job is rendered; return those not reported before."""
        done = self.completed()
        while self._pending and self._broken is None:
            try:
                item = self._replies.get(timeout=self.timeout)
            except queue.Empty:
                self._give_up(f"the plot worker rendered nothing for {self.timeout:g} s")
                break
            done.extend(self._settle(*item))
        done.extend(self._render_rest_here())
        return done

    def close(self) -> list[tuple[RenderJob, Any]]:
        """Drain, then stop the worker (it exits when its stdin closes)."""
        try:
            return self.drain()
        finally:
            self._stop()

    # ------------------------------------------------------------------ worker
    def _start(self) -> subprocess.Popen:
        env = dict(os.environ)
        # the worker imports the job's module from the same places as this process does
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        env.setdefault("MPLBACKEND", "Agg")
        env["OMP_NUM_THREADS"] = "1"
        process = subprocess.Popen(
            [sys.executable, "-m", "ganbench.rendering"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            close_fds=True,
        )
        self._generation += 1
        self._outbox = queue.Queue()
        # Writing to the pipe blocks once it is full (64 KiB: a few toy plots' data), so a thread
        # does it, and submit() never waits for the worker.
        for target, args, name in (
            (_send_all, (process.stdin, self._outbox), "ganbench-plot-jobs"),
            (self._read, (process.stdout, self._generation), "ganbench-plot-replies"),
        ):
            threading.Thread(target=target, args=args, name=name, daemon=True).start()
        return process

    def _send(self, seq: int, job: RenderJob) -> None:
        payload = pickle.dumps((seq, job.function, job.kwargs, str(job.path)), protocol=pickle.HIGHEST_PROTOCOL)
        if self._process is None:
            self._process = self._start()
        self._outbox.put(payload)

    def _read(self, stdout: BinaryIO, generation: int) -> None:
        try:
            while True:
                self._replies.put((generation, pickle.load(stdout)))
        except Exception:  # EOF or a broken pipe: the worker has exited
            self._replies.put((generation, None))

    def _settle(self, generation: int, reply: tuple[int, str | None] | None) -> list[tuple[RenderJob, Any]]:
        """Act on one item of the reply queue: a job done (or failed: rendered here), or the end of
        the worker's replies (``None``); items of a stopped worker are ignored."""
        if generation != self._generation:
            return []
        if reply is None:
            code = self._process.poll() if self._process is not None else None
            if self._pending or code not in (0, None):
                self._give_up(f"the plot worker exited (code {code})")
            return []
        seq, error = reply
        if seq not in self._pending:
            return []
        job, tag = self._pending.pop(seq)
        if error is not None:
            log.warning(
                "the plot worker could not render %s (%s); rendering it in the training process", job.path, error
            )
            render(job)  # raises here if the plot cannot be made at all
        return [(job, tag)]

    def _give_up(self, reason: str) -> None:
        if self._broken is None:
            log.warning("%s; rendering the remaining plots in the training process", reason)
            self._broken = reason
            self._stop(kill=True)

    def _render_rest_here(self) -> list[tuple[RenderJob, Any]]:
        if self._broken is None:
            return []
        done = []
        for seq in sorted(self._pending):
            job, tag = self._pending.pop(seq)
            render(job)
            done.append((job, tag))
        return done

    def _stop(self, kill: bool = False) -> None:
        process, self._process = self._process, None
        self._generation += 1
        if process is None:
            return
        self._outbox.put(None)  # the sender closes the worker's stdin after the jobs before it
        if kill:
            process.kill()
        # With its stdin closed and every job reported, the worker only has to exit (about 0.1 s
        # of interpreter shutdown): it is reaped by a thread rather than waited for here.
        threading.Thread(target=_reap, args=(process,), name="ganbench-plot-worker-exit", daemon=True).start()


def _send_all(stdin: BinaryIO, outbox: queue.Queue[bytes | None]) -> None:
    """Write the pickled jobs of ``outbox`` to the worker's stdin until ``None``, then close it."""
    try:
        while (payload := outbox.get()) is not None:
            stdin.write(payload)
            stdin.flush()
    except (OSError, ValueError):
        pass  # the worker has gone: its reply reader reports that
    finally:
        try:
            stdin.close()
        except OSError:
            pass


def _reap(process: subprocess.Popen) -> None:
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout:
        process.stdout.close()


def _worker(stdin: BinaryIO, replies: BinaryIO) -> None:
    """Render the jobs read from ``stdin`` until it closes, one reply per job."""
    while True:
        try:
            seq, function, kwargs, path = pickle.load(stdin)
        except EOFError:
            return
        try:
            render(RenderJob(function, Path(path), kwargs))
            error = None
        except Exception as exc:  # reported to the training process, which renders the job itself
            error = f"{type(exc).__name__}: {exc}"
        try:
            pickle.dump((seq, error), replies, protocol=pickle.HIGHEST_PROTOCOL)
            replies.flush()
        except BrokenPipeError:  # the training process has gone (killed): nobody is left to tell
            return


if __name__ == "__main__":
    # Ctrl-C in a terminal reaches the whole process group: the training process stops at the end
    # of its iteration and drains the plots; the worker carries on until its stdin closes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    sys.stdout = sys.stderr  # a print in a plotting function cannot corrupt the replies
    _worker(sys.stdin.buffer, _replies)
