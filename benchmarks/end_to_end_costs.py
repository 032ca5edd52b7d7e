"""What a whole ``ganbench-train`` run does beyond the steady state, and why its plots are drawn by a
worker process rather than a thread.

* ``costs``: the training-thread time of each periodic piece of a default toy run (evaluation, its
  plot, checkpoint, the end of training), from ``time.perf_counter`` around the callbacks' methods,
  with ``eval.background_plots`` on and off.
* ``overlap``: N toy scatter plots, the minimal training loop of ``framework_overhead.py``, and both
  at once, with the plots in a second thread and in a worker process (:mod:`ganbench.rendering`).
  A plot in a thread does not overlap training (matplotlib holds the GIL while it draws); in a
  process it does, on a second core.

    OMP_NUM_THREADS=1 python benchmarks/end_to_end_costs.py --iterations 3000 --plots 8 --rounds 2
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import statistics
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch

from ganbench.config import compose
from ganbench.experiment import run
from ganbench.rendering import BackgroundRenderer
from ganbench.training import callbacks

warnings.filterwarnings("ignore")

TIMED = {
    "evaluation (all of it)": (callbacks.EvaluationCallback, "_evaluate"),
    "plot (in the training thread)": (callbacks.EvaluationCallback, "_plot"),
    "checkpoint": (callbacks.IterationCheckpoint, "save"),
    "end of training (waiting for plots)": (callbacks.EvaluationCallback, "on_train_end"),
    "teardown (closing the plot worker)": (callbacks.EvaluationCallback, "teardown"),
}


@contextlib.contextmanager
def _timed_methods() -> Iterator[dict[str, list[float]]]:
    """Wrap the methods of TIMED so that each call's seconds are recorded under its label (undone on exit)."""
    seconds: dict[str, list[float]] = {label: [] for label in TIMED}
    originals = {label: getattr(cls, name) for label, (cls, name) in TIMED.items()}
    for label, (cls, name) in TIMED.items():

        @functools.wraps(originals[label])
        def timed(*args, __original=originals[label], __label=label, **kwargs):
            start = time.perf_counter()
            try:
                return __original(*args, **kwargs)
            finally:
                seconds[__label].append(time.perf_counter() - start)

        setattr(cls, name, timed)
    try:
        yield seconds
    finally:
        for label, (cls, name) in TIMED.items():
            setattr(cls, name, originals[label])


def costs(iterations: int, rounds: int) -> None:
    with _timed_methods() as seconds:
        _costs(iterations, rounds, seconds)


def _costs(iterations: int, rounds: int, seconds: dict[str, list[float]]) -> None:
    for background in ("true", "false"):
        walls, per_label = [], {label: [] for label in TIMED}
        for _ in range(rounds):
            for values in seconds.values():
                values.clear()
            overrides = [f"iterations={iterations}", f"eval.background_plots={background}"]
            with tempfile.TemporaryDirectory() as tmp:
                walls.append(
                    float(
                        run(compose([*overrides, "trainer.enable_progress_bar=false"]), Path(tmp) / "r")["wall_seconds"]
                    )
                )
            for label, values in seconds.items():
                per_label[label].extend(values)
        print(
            f"\neval.background_plots={background}: run of {iterations} iterations, "
            f"wall {statistics.median(walls):.2f} s (median of {rounds})"
        )
        for label, values in per_label.items():
            if values:
                ms = sorted(1000 * v for v in values)
                print(
                    f"  {label:<38} {len(values) // rounds:2d} calls a run, "
                    f"median {statistics.median(ms):7.1f} ms, max {ms[-1]:7.1f} ms"
                )


def overlap(plots: int, iterations: int, rounds: int) -> None:
    from framework_overhead import minimal_round

    from ganbench.evaluation.scatter import scatter_png

    torch.manual_seed(0)
    angles = torch.arange(8) * (2 * torch.pi / 8)
    centers = torch.stack([angles.cos(), angles.sin()], 1).numpy()
    points = (torch.from_numpy(centers)[torch.randint(8, (2500,))] + 0.02 * torch.randn(2500, 2)).numpy()
    tmp = Path(tempfile.mkdtemp())
    job = {"points": points, "centers": centers, "sigma": 0.01, "title": "a toy evaluation"}

    def draw_all() -> None:
        for i in range(plots):
            scatter_png(tmp / f"t{i}.png", **job)

    def in_process() -> None:
        from ganbench.rendering import RenderJob

        renderer = BackgroundRenderer()
        for i in range(plots):
            renderer.submit(RenderJob("ganbench.evaluation.scatter:scatter_png", tmp / f"p{i}.png", job))
        minimal_round(iterations, 0)
        renderer.close()

    def in_thread() -> None:
        thread = threading.Thread(target=draw_all)
        thread.start()
        minimal_round(iterations, 0)
        thread.join()

    def seconds(fn) -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    draw_all()  # imports and font cache
    results: dict[str, list[float]] = {
        "plots alone": [],
        "training alone": [],
        "both, plots in a thread": [],
        "both, plots in a worker process": [],
    }
    for _ in range(rounds):
        results["plots alone"].append(seconds(draw_all))
        results["training alone"].append(seconds(lambda: minimal_round(iterations, 0)))
        results["both, plots in a thread"].append(seconds(in_thread))
        results["both, plots in a worker process"].append(seconds(in_process))
    print(
        f"\n{plots} scatter plots and {iterations} iterations of the minimal loop, "
        f"{torch.get_num_threads()} torch thread(s), median of {rounds}:"
    )
    for label, values in results.items():
        print(f"  {label:<34} {statistics.median(values):6.2f} s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iterations", type=int, default=3000, help="iterations of each default ganbench-train run")
    p.add_argument("--plots", type=int, default=8, help="plots of the overlap measurement")
    p.add_argument(
        "--loop-iterations", type=int, default=1000, help="minimal-loop iterations of the overlap measurement"
    )
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    costs(args.iterations, args.rounds)
    overlap(args.plots, args.loop_iterations, args.rounds)


if __name__ == "__main__":
    main()
