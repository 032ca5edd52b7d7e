"""ganbench.rendering: plots rendered by a worker process are the same files as plots rendered
in the training process, and a worker that fails or dies loses no plot."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganbench.evaluation.scatter import scatter_png
from ganbench.rendering import BackgroundRenderer, RenderJob, render

SCATTER = "ganbench.evaluation.scatter:scatter_png"


def _scatter_job(path: Path, seed: int = 0) -> RenderJob:
    rng = np.random.default_rng(seed)
    centers = np.array([[np.cos(a), np.sin(a)] for a in np.linspace(0, 2 * np.pi, 8, endpoint=False)])
    points = centers[rng.integers(0, 8, 500)] + 0.02 * rng.standard_normal((500, 2))
    return RenderJob(
        SCATTER, path, {"points": points.astype(np.float32), "centers": centers, "sigma": 0.01, "title": "t"}
    )


# Job functions the worker imports from this module (which imports no torch, so the worker starts fast).
def write_text(path: Path, text: str) -> None:
    print("a stray print in the worker")  # must not corrupt the worker's replies
    Path(path).write_text(text)


def fails_in_worker(path: Path, parent: int) -> None:
    if os.getpid() != parent:
        raise RuntimeError("only in the worker")
    Path(path).write_text("rendered by the training process")


def wait_for_gate(path: Path, gate: str) -> None:
    """Write "opened" once the file ``gate`` exists, or "timed out" after 20 s."""
    for _ in range(400):
        if Path(gate).exists():
            Path(path).write_text("opened")
            return
        time.sleep(0.05)
    Path(path).write_text("timed out")


def always_fails(path: Path) -> None:
    raise ValueError("cannot plot this")


JOBS = "test_rendering"


def test_worker_writes_the_same_png_as_the_training_process(tmp_path):
    here = render(_scatter_job(tmp_path / "here.png"))
    renderer = BackgroundRenderer()
    job = _scatter_job(tmp_path / "there.png")
    renderer.submit(job, "tag")
    assert not (tmp_path / "there.png").exists() or renderer.pending == 0  # submit does not wait
    done = renderer.close()
    assert done == [(job, "tag")]
    assert (tmp_path / "there.png").read_bytes() == here.read_bytes()
    with Image.open(here) as image:
        assert image.size == (500, 500)  # figsize 5 × 5 in at 100 dpi
    assert {p.name for p in tmp_path.iterdir()} == {"here.png", "there.png"}  # no temporary file left


def test_jobs_are_reported_once_in_order_and_the_worker_exits(tmp_path):
    renderer = BackgroundRenderer()
    jobs = [RenderJob(f"{JOBS}:write_text", tmp_path / f"{i}.txt", {"text": str(i)}) for i in range(5)]
    for i, job in enumerate(jobs):
        renderer.submit(job, i)
    process = renderer.process
    assert process is not None
    reported = renderer.drain()
    assert [tag for _, tag in reported] == list(range(5))
    assert [(tmp_path / f"{i}.txt").read_text() for i in range(5)] == [str(i) for i in range(5)]
    assert renderer.completed() == [] and renderer.drain() == []
    renderer.close()
    assert process.wait(timeout=30) == 0 and renderer.process is None  # it exits once its stdin closes


def test_a_job_the_worker_fails_is_rendered_here(tmp_path, caplog):
    renderer = BackgroundRenderer()
    job = RenderJob(f"{JOBS}:fails_in_worker", tmp_path / "a.txt", {"parent": os.getpid()})
    renderer.submit(job)
    with caplog.at_level(logging.WARNING, logger="ganbench.rendering"):
        assert renderer.close() == [(job, None)]
    assert (tmp_path / "a.txt").read_text() == "rendered by the training process"
    assert "RuntimeError: only in the worker" in caplog.text


def test_a_plot_that_cannot_be_made_raises_its_own_error(tmp_path):
    renderer = BackgroundRenderer()
    renderer.submit(RenderJob(f"{JOBS}:always_fails", tmp_path / "a.txt"))
    with pytest.raises(ValueError, match="cannot plot this"):
        renderer.close()
    assert renderer.process is None


def test_a_dead_worker_loses_no_plot(tmp_path, caplog):
    renderer = BackgroundRenderer()
    renderer.submit(RenderJob(f"{JOBS}:write_text", tmp_path / "0.txt", {"text": "0"}))
    renderer.drain()
    renderer.process.kill()  # killed between jobs: the next ones are rendered here
    renderer.process.wait()
    for i in (1, 2):
        renderer.submit(RenderJob(f"{JOBS}:write_text", tmp_path / f"{i}.txt", {"text": str(i)}), i)
    with caplog.at_level(logging.WARNING, logger="ganbench.rendering"):
        done = renderer.close()
    assert [tag for _, tag in done] == [1, 2]
    assert [(tmp_path / f"{i}.txt").read_text() for i in range(3)] == ["0", "1", "2"]
    assert "plot worker" in caplog.text


def test_scatter_png_is_atomic_and_makes_its_directory(tmp_path):
    job = _scatter_job(tmp_path / "plots" / "s.png")
    path = scatter_png(job.path, **job.kwargs)
    assert path == tmp_path / "plots" / "s.png"
    assert [p.name for p in path.parent.iterdir()] == ["s.png"]


def test_a_renderer_pickles_without_its_worker(tmp_path):
    # ddp_spawn pickles the trainer and its callbacks: the copy starts its own worker
    import pickle

    renderer = BackgroundRenderer()
    renderer.submit(RenderJob(f"{JOBS}:write_text", tmp_path / "a.txt", {"text": "a"}))
    with pytest.raises(RuntimeError, match="drain"):
        pickle.dumps(renderer)
    renderer.drain()
    copy = pickle.loads(pickle.dumps(renderer))
    assert copy.process is None and copy.pending == 0
    copy.submit(RenderJob(f"{JOBS}:write_text", tmp_path / "b.txt", {"text": "b"}), "b")
    assert [tag for _, tag in copy.close()] == ["b"]
    assert (tmp_path / "b.txt").read_text() == "b"
    renderer.close()


def test_ctrl_c_does_not_stop_the_worker(tmp_path):
    # a terminal's Ctrl-C reaches the whole process group; the training process handles it
    import signal

    renderer = BackgroundRenderer()
    renderer.submit(RenderJob(f"{JOBS}:write_text", tmp_path / "0.txt", {"text": "0"}))
    renderer.drain()
    renderer.process.send_signal(signal.SIGINT)
    renderer.submit(RenderJob(f"{JOBS}:write_text", tmp_path / "1.txt", {"text": "1"}))
    process = renderer.process
    renderer.close()
    assert process.wait(timeout=30) == 0  # it rendered the job and exited normally
    assert (tmp_path / "1.txt").read_text() == "1"


def test_submit_never_waits_for_the_worker(tmp_path):
    # the worker is held by a job that waits for a gate file; 1.5 MB of jobs more than fill the
    # pipe (64 KiB): submit() must still return at once, so that the gate can be opened
    renderer = BackgroundRenderer()
    gate = tmp_path / "gate"
    renderer.submit(RenderJob(f"{JOBS}:wait_for_gate", tmp_path / "held.txt", {"gate": str(gate)}))
    for i in range(6):
        renderer.submit(RenderJob(f"{JOBS}:write_text", tmp_path / f"{i}.txt", {"text": "x" * 250_000}))
    gate.touch()
    renderer.close()
    assert (tmp_path / "held.txt").read_text() == "opened"
    assert all((tmp_path / f"{i}.txt").stat().st_size == 250_000 for i in range(6))
