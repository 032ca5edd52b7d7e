"""Callbacks that count in iterations: evaluation, checkpoints, signals, the progress bar and early stopping.

The run's callbacks are chosen in the ``callbacks`` config group (``conf/callbacks/``); see
:func:`ganbench.experiment.build`."""

from __future__ import annotations

import logging
import math
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback, EarlyStopping, TQDMProgressBar

from ganbench._compat import tqdm_train_bar
from ganbench.counts import ceil_div
from ganbench.evaluation.aggregate import BestTracker, best_directions, combine_repeats, repeat_directions
from ganbench.rendering import BackgroundRenderer, RenderJob
from ganbench.rng import preserved_rng
from ganbench.slurm import requeue_signals
from ganbench.training.distributed import broadcast_buffers
from ganbench.training.image_logging import log_image, shows_images
from ganbench.training.module import GANModule
from ganbench.training.overhead import callbacks_read_metrics

log = logging.getLogger(__name__)


def _due(iteration: int, every: int | None, last: int | None) -> bool:
    return iteration == last or (bool(every) and iteration % every == 0)


def _settle_divergence_check(pl_module: Any) -> None:
    """Raise now if the last iteration diverged (a deferred check on CUDA), before acting on it."""
    check = getattr(pl_module, "check_pending", None)
    if check is not None:
        check()


class IterationEvents(Callback):
    """Several callbacks run, in the given order, as *one* Lightning callback.

    Lightning calls every hook of every callback in every step, optimiser step and backward
    (``on_before_backward``, ``on_after_backward``, ``on_before_optimizer_step``, …), each through
    a profiler context, whether the callback implements it or not. This wrapper forwards only the
    hooks that its callbacks override, so the per-iteration cost is that of one callback. The
    checkpoint state of the wrapped callbacks (``state_dict``) is saved and restored under their
    position in the list.
    """

    def __init__(self, *callbacks: Callback) -> None:
        self.callbacks = list(callbacks)
        self.reads_callback_metrics = callbacks_read_metrics(self.callbacks)
        self._stateful = {
            str(i): cb for i, cb in enumerate(self.callbacks) if type(cb).state_dict is not Callback.state_dict
        }
        for name, base in vars(Callback).items():
            if name in ("state_dict", "load_state_dict"):
                continue
            if not (callable(base) and (name.startswith("on_") or name in ("setup", "teardown"))):
                continue
            handlers = [getattr(cb, name) for cb in self.callbacks if getattr(type(cb), name) is not base]
            if handlers:
                setattr(self, name, self._dispatcher(handlers))

    def state_dict(self) -> dict[str, Any]:
        return {key: cb.state_dict() for key, cb in self._stateful.items()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        for key, cb in self._stateful.items():
            if key in state_dict:
                cb.load_state_dict(state_dict[key])

    @staticmethod
    def _dispatcher(handlers: list[Any]) -> Any:
        if len(handlers) == 1:
            return handlers[0]

        def dispatch(*args: Any, **kwargs: Any) -> None:
            for handler in handlers:
                handler(*args, **kwargs)

        return dispatch


class EvaluationCallback(Callback):
    """Every ``every`` iterations and at the last one, draw ``evaluator.num_samples`` samples from
    the (EMA) generator with a fixed seed, compute the evaluator's metrics, log them against the
    iteration, and save the evaluator's plot under ``plot_dir``.

    ``evaluator`` is an :class:`~ganbench.evaluation.contract.Evaluator`. The plot is also sent to
    the loggers that show images (TensorBoard, W&B). Evaluation never draws from the training RNG
    streams: they are restored afterwards, whatever the evaluator does (cache misses included).

    With ``background_plots``, the evaluator's ``plot_job`` (a :class:`~ganbench.rendering.RenderJob`)
    is rendered by a worker process
    (:class:`~ganbench.rendering.BackgroundRenderer`) while training goes on; ``last_plot`` follows
    as they complete, and the end of training waits for them. The last evaluation's plot, and every
    plot when a logger shows images, are rendered at once, as without it.

    ``repeats`` > 1 draws that many sample sets per evaluation (latent seeds ``seed + r``; under
    DDP ``seed + r·world + rank``) and reports each metric's mean with ``<metric>_seed_std`` (as
    Mimicry's FID ± std over 3 seeds). ``track_best`` adds ``best_<metric>``, the best value over
    the run's evaluations so far by the evaluator's ``directions`` (``best_at`` says when; kept in
    checkpoints). Under DDP every rank first takes rank 0's buffers (BatchNorm statistics), so all
    ranks sample from the same generator.
    """

    reads_callback_metrics = False  # see ganbench.training.overhead.callbacks_read_metrics

    def __init__(
        self,
        evaluator: Any,
        every: int | None,
        plot_dir: Path,
        seed: int = 1234,
        repeats: int = 1,
        track_best: bool = False,
        background_plots: bool = False,
    ) -> None:
        if repeats < 1:
            raise ValueError(f"eval.repeats must be >= 1, got {repeats}")
        self.evaluator = evaluator
        self.every = every
        self.plot_dir = Path(plot_dir)
        self.seed = seed
        self.repeats = int(repeats)
        self.best = BestTracker() if track_best else None
        self.last_metrics: dict[str, float] = {}
        self.last_plot: Path | None = None
        self.last_plot_iteration: int | None = None
        self.last_iteration: int | None = None
        self.renderer = BackgroundRenderer() if background_plots else None

    @property
    def directions(self) -> dict[str, str | None]:
        """The evaluator's metric directions plus those of ``<metric>_seed_std`` and ``best_<metric>``."""
        base = dict(self.evaluator.directions)
        out = dict(base)
        if self.repeats > 1:
            out.update(repeat_directions(base))
        if self.best is not None:
            out.update(best_directions(base))
        return out

    @property
    def best_at(self) -> dict[str, int]:
        """Iteration of each ``best_<metric>`` (empty without ``track_best``)."""
        return dict(self.best.at) if self.best is not None else {}

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best.state_dict()} if self.best is not None else {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if self.best is not None and "best" in state_dict:
            self.best.load_state_dict(state_dict["best"])

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: GANModule, outputs, batch, batch_idx: int) -> None:
        iteration = pl_module.iteration
        if self.renderer is not None and self.renderer.pending:
            self._plotted(self.renderer.completed())
        if _due(iteration, self.every, pl_module.last_iteration):
            _settle_divergence_check(pl_module)
            self.evaluate(trainer, pl_module, iteration)

    def on_train_end(self, trainer: L.Trainer, pl_module: GANModule) -> None:
        if self.renderer is not None:
            self._plotted(self.renderer.drain())

    def teardown(self, trainer: L.Trainer, pl_module: GANModule, stage: str) -> None:
        if self.renderer is None:
            return
        # Also after an error: the worker finishes its jobs and exits. A plot that fails here is
        # reported without hiding the error that ended the run (on_train_end has already raised
        # it when the run ended normally).
        try:
            self._plotted(self.renderer.close())
        except Exception as error:
            log.warning("could not finish the evaluation plots: %s", error)

    def evaluate(self, trainer: L.Trainer, pl_module: GANModule, iteration: int) -> dict[str, float]:
        with preserved_rng():
            return self._evaluate(trainer, pl_module, iteration)

    def recall(self, trainer: L.Trainer, pl_module: GANModule) -> dict[str, float]:
        """The evaluation at ``pl_module``'s current iteration once more, for a run resumed at its
        last iteration (stopped after its final checkpoint, before its record): the same samples
        give the same metrics. They are not logged again (the loggers wrote them before that
        checkpoint), and the plot already drawn is kept. Lightning has put the module back on the
        CPU: it is evaluated on the device it trained on."""
        pl_module.to(trainer.strategy.root_device)
        with preserved_rng():
            return self._evaluate(trainer, pl_module, pl_module.iteration, log=False)

    def _evaluate(self, trainer: L.Trainer, pl_module: GANModule, iteration: int, log: bool = True) -> dict[str, float]:
        broadcast_buffers(pl_module)  # every rank samples with rank 0's BatchNorm statistics
        results, samples = [], None
        for repeat in range(self.repeats):
            drawn = self.gathered_samples(trainer, pl_module, repeat)
            results.append(self.evaluator.evaluate(drawn))
            samples = drawn if samples is None else samples  # the plot shows the first draw
        metrics = combine_repeats(results, self.evaluator.directions)
        if self.best is not None:
            metrics.update(self.best.update(metrics, self.evaluator.directions, iteration))
        if log:
            pl_module.log_metrics(metrics, iteration)
        drawn = self.plot_dir / f"samples_{iteration:06d}.png"
        if not log and drawn.is_file():
            self._note_plot(iteration, drawn)
        elif trainer.is_global_zero:
            title = f"{type(pl_module.loss).__name__}, iteration {iteration}: " + ", ".join(
                f"{k}={v:.3g}" for k, v in metrics.items()
            )
            self._plot(trainer, pl_module, samples, iteration, title)
        self.last_metrics, self.last_iteration = metrics, iteration
        return metrics

    def _plot(self, trainer: L.Trainer, pl_module: GANModule, samples: Any, iteration: int, title: str) -> None:
        path = self.plot_dir / f"samples_{iteration:06d}.png"
        plot_job = getattr(self.evaluator, "plot_job", None)
        if (
            self.renderer is not None
            and plot_job is not None
            and iteration != pl_module.last_iteration
            and not shows_images(trainer.loggers)
        ):
            self.renderer.submit(plot_job(samples, path, title), iteration)
            return
        self._note_plot(iteration, self.evaluator.plot(samples, path, title))
        log_image(trainer.loggers, "samples", self.last_plot, iteration)

    def _plotted(self, done: list[tuple[RenderJob, int]]) -> None:
        for job, iteration in done:
            self._note_plot(iteration, job.path)

    def _note_plot(self, iteration: int, path: Path) -> None:
        """``last_plot`` is the plot of the latest evaluation (background plots finish out of turn)."""
        if self.last_plot_iteration is None or iteration >= self.last_plot_iteration:
            self.last_plot, self.last_plot_iteration = Path(path), iteration

    def gathered_samples(self, trainer: L.Trainer, pl_module: GANModule, repeat: int = 0):
        """``num_samples`` samples: one process draws them with ``seed + repeat``; under DDP each rank
        draws its share with ``seed + repeat·world + rank`` and every rank gets all of them, in rank order."""
        n, world = self.evaluator.num_samples, trainer.world_size
        seed = self.seed + repeat * world
        if world == 1:
            return pl_module.sample(n, seed=seed)
        local = pl_module.sample(ceil_div(n, world), seed=seed + trainer.global_rank)
        return pl_module.all_gather(local).flatten(0, 1)[:n]


class IterationCheckpoint(Callback):
    """Save ``checkpoints/iter{N:06d}.ckpt`` every ``every`` iterations and ``checkpoints/last.ckpt``
    at each save and at the end. Files are written under a temporary name and renamed, so a
    crash never leaves a truncated checkpoint behind."""

    reads_callback_metrics = False  # see ganbench.training.overhead.callbacks_read_metrics

    def __init__(self, dirpath: Path, every: int | None) -> None:
        self.dirpath = Path(dirpath)
        self.every = every
        self.last_path: Path | None = None
        self._trained = False  # whether this fit has run an iteration
        self._saved_stop = False  # whether last.ckpt was saved at a stop request (see on_train_end)

    def save(self, trainer: L.Trainer, name: str) -> Path:
        _settle_divergence_check(trainer.lightning_module)  # never save a diverged state
        for logger in trainer.loggers:  # metrics on disk are never behind the checkpoint
            logger.save()
        path = self.dirpath / name
        tmp = path.with_name(path.name + ".tmp")
        broadcast_buffers(trainer.lightning_module)  # the checkpoint's BatchNorm statistics are every rank's
        try:
            trainer.save_checkpoint(tmp, weights_only=False)
            if trainer.is_global_zero:
                os.replace(tmp, path)
        except BaseException:  # a full disk, a kill signal turned exception: no partial file stays behind
            if trainer.is_global_zero:
                tmp.unlink(missing_ok=True)
            raise
        trainer.strategy.barrier("ganbench_checkpoint")
        return path

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: GANModule, outputs, batch, batch_idx: int) -> None:
        iteration, self._trained = pl_module.iteration, True
        due = bool(self.every) and iteration % self.every == 0
        if due or trainer.should_stop:  # a stop request (see GracefulInterrupt) saves here, mid-epoch,
            self.last_path = self.save(trainer, "last.ckpt")  # so that resuming continues the epoch
            self._saved_stop = trainer.should_stop
        if due and trainer.is_global_zero:
            # last.ckpt is written first, so a kill at any point leaves it at least as new as every iterN.ckpt.
            self.keep_copy(self.last_path, self.dirpath / f"iter{iteration:06d}.ckpt")

    @staticmethod
    def keep_copy(source: Path, path: Path) -> None:
        """Atomically make ``path`` a copy of ``source`` (a hard link where the filesystem allows)."""
        tmp = path.with_name(path.name + ".tmp")
        tmp.unlink(missing_ok=True)
        try:
            try:
                os.link(source, tmp)
            except OSError:
                shutil.copyfile(source, tmp)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def on_train_end(self, trainer: L.Trainer, pl_module: GANModule) -> None:
        # A stop request saved at its iteration, or made before the first one, is not saved again. A
        # stop requested after this callback's turn in the step (a stock EarlyStopping, after the
        # evaluation) is saved here, with that callback's state after its decision.
        if not (trainer.should_stop and (self._saved_stop or not self._trained)):
            self.last_path = self.save(trainer, "last.ckpt")


class GracefulInterrupt(Callback):
    """Turn SIGINT (Ctrl-C) and SIGTERM into a clean stop at the end of the current iteration.

    The handlers are installed for the whole run (:meth:`install`, before the run is built) and
    restored by :meth:`restore`. Until training starts (building the run, loading data, training a
    domain classifier, Lightning's own set-up) a signal stops the run at once: the handler raises
    KeyboardInterrupt, and the run is recorded ``interrupted`` during start-up. From
    ``on_train_start`` on, it only sets ``trainer.should_stop``; :class:`IterationCheckpoint`
    (listed after this callback) then saves ``last.ckpt`` at that iteration boundary, never in a
    half-done iteration, and the run ends through the normal path with the summary saying
    ``interrupted``. A second signal while stopping is ignored.
    """

    reads_callback_metrics = False  # see ganbench.training.overhead.callbacks_read_metrics

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        # on a cluster, also the scheduler's "time is almost up" signal (see ganbench.slurm)
        self.signals = (*self.SIGNALS, *requeue_signals())
        self.received: str | None = None
        self.at_iteration: int | None = None
        self.starting = True
        self._previous: dict[int, Any] = {}
        self._installed_for_training = False

    def _handle(self, signum: int, frame: Any) -> None:
        if self.received is None:
            self.received = signal.Signals(signum).name
            if self.starting:
                raise KeyboardInterrupt(self.received)

    def install(self) -> None:
        """Listen to the signals from now on (in the main thread; elsewhere the host process handles them)."""
        for sig in self.signals:
            if sig in self._previous:
                continue
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals to the host process
                pass

    def restore(self) -> None:
        """Give the signals back to the handlers they had before :meth:`install`."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.starting = False
        if not self._previous:  # not installed by the run (a script driving the Trainer itself): for training only
            self.install()
            self._installed_for_training = True
        for sig in self._previous:  # again: Lightning's set-up puts its own SIGTERM handler in front of this one
            signal.signal(sig, self._handle)
        if self.received is not None:  # a signal that arrived just before: stop before the first iteration
            self.at_iteration = pl_module.iteration
            trainer.should_stop = True

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: GANModule, outputs, batch, batch_idx: int) -> None:
        stop = trainer.strategy.reduce_boolean_decision(self.received is not None, all=False)
        if stop and not trainer.should_stop:
            self.received = self.received or "peer rank"
            self.at_iteration = pl_module.iteration
            trainer.should_stop = True

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._installed_for_training:
            self.restore()

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if self._installed_for_training:
            self.restore()


class IterationProgressBar(TQDMProgressBar):
    """A progress bar over iterations (out of the run's total, starting where a resumed run
    continues) that shows the latest losses and D outputs.

    It is redrawn at most every ``min_interval`` seconds (and at the last iteration), like tqdm's
    own ``mininterval``: redrawing at every Lightning step cost about 1 % of a toy run's time
    when steps were 10 iterations (~35 ms) long; at the default 50 it is less, and the cap holds
    for any step length. When the output is not a terminal (a log file), every
    ``file_interval`` seconds. Lightning's own "Training" and "Epoch N" bars never appear. The
    readout (``d`` and ``g`` losses, ``D(x)``, ``D(G(z))``, ``reg``) keeps as many entries as fit
    beside a bar of at least ``MIN_BAR`` cells in the terminal's width."""

    SHOWN = (("d_loss", "d"), ("g_loss", "g"), ("d_real", "D(x)"), ("d_fake", "D(G(z))"), ("regularizer", "reg"))
    BAR = "{desc}{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}]{postfix}"
    MIN_BAR = 10

    def __init__(
        self, refresh_rate: int = 1, min_interval: float = 0.2, file_interval: float = 30.0, **kwargs: Any
    ) -> None:
        super().__init__(refresh_rate=refresh_rate, **kwargs)
        self.min_interval = min_interval
        self.file_interval = file_interval
        self._shown_at = -math.inf
        self._shown = 0

    def init_train_tqdm(self) -> Any:
        from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm

        if not sys.stdout.isatty():
            self.min_interval = max(self.min_interval, self.file_interval)
        return Tqdm(
            desc="iterations:",
            position=2 * self.process_position,
            disable=self.is_disabled,
            leave=True,
            dynamic_ncols=True,
            file=sys.stdout,
            smoothing=0,
            bar_format=self.BAR,
            delay=1e-9,  # first drawn by on_train_start, once its total is known (not as "0/?")
        )

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Lightning does not call on_train_epoch_start when it restarts in the middle of an epoch
        # (a resumed run): the bar is set up here.
        super().on_train_start(trainer, pl_module)
        self._count_iterations(pl_module)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # not Lightning's: it would reset the bar to the epoch's batches, as "Epoch N"
        self._count_iterations(pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Show the iteration the run ended at (a stop before the last one: early stopping, a signal)."""
        bar = tqdm_train_bar(self)
        if bar is not None and self.is_enabled and bar.n != pl_module.iteration:
            bar.n = pl_module.iteration
            bar.refresh()
        super().on_train_end(trainer, pl_module)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        """End the bar's line, so that what follows (the error, the summary) starts on its own."""
        bar = tqdm_train_bar(self)
        if bar is not None:
            bar.close()

    def _count_iterations(self, pl_module: L.LightningModule) -> None:
        bar = tqdm_train_bar(self)
        if bar is None:
            return
        bar.total = pl_module.last_iteration
        bar.initial = bar.n = self._shown = pl_module.iteration  # a resumed run starts where it stopped
        bar.refresh()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: GANModule, outputs, batch, batch_idx: int) -> None:
        """Count iterations, not Lightning steps (a step may run several iterations)."""
        bar, n = tqdm_train_bar(self), pl_module.iteration
        if bar is None or not self.is_enabled:
            return
        now = time.monotonic()
        if (n - self._shown >= self.refresh_rate and now - self._shown_at >= self.min_interval) or n == bar.total:
            self._shown, self._shown_at = n, now
            bar.n = n
            bar.set_postfix_str(self.readout(getattr(pl_module, "latest", {}), self._room(bar)))  # refreshes

    @classmethod
    def _room(cls, bar: Any) -> int | None:
        """Columns left for the readout beside a bar of MIN_BAR cells; None: no limit (not a terminal)."""
        if not getattr(bar.fp, "isatty", lambda: False)():
            return None
        columns = shutil.get_terminal_size((120, 24)).columns
        # without ncols, tqdm draws a 10-cell bar; the readout comes after ", "
        fixed = len(bar.format_meter(**{**bar.format_dict, "postfix": None, "ncols": None})) - 10 + cls.MIN_BAR
        return columns - 1 - fixed - 2

    @classmethod
    def readout(cls, latest: dict[str, float], room: int | None = None) -> str:
        """``d=1.41 g=0.694 D(x)=0.535 …``: as many of the latest values as fit in ``room`` columns."""
        out = ""
        for key, label in cls.SHOWN:
            if key not in latest:
                continue
            item = f"{label}={latest[key]:.3g}"
            candidate = f"{out} {item}" if out else item
            if room is not None and len(candidate) > room:
                break
            out = candidate
        return out

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        return {}  # the readout is the bar's postfix (see readout)


class IterationEarlyStopping(EarlyStopping):
    """Lightning's :class:`~lightning.pytorch.callbacks.EarlyStopping`, checked after every
    evaluation: every ``every`` iterations (``eval.every``) and at the last one.

    Lightning checks at the end of each epoch or validation; a ganbench run is one epoch and has no
    validation loop, so that would be once, at the end. ``patience`` counts evaluations. A stop
    ends the run at that iteration, with its checkpoint, as ``completed``. Every other argument is
    EarlyStopping's (``monitor``, ``mode``, ``min_delta``, ``stopping_threshold``, …)."""

    def __init__(self, monitor: str, every: int | None, **kwargs: Any) -> None:
        super().__init__(monitor=monitor, check_on_train_epoch_end=False, **kwargs)
        self.every = every

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: GANModule, outputs, batch, batch_idx: int) -> None:
        if _due(pl_module.iteration, self.every, pl_module.last_iteration):
            self.on_validation_end(trainer, pl_module)  # EarlyStopping's check, after an evaluation


def early_stop_reason(trainer: L.Trainer) -> str:
    """Why training ended before its last iteration without a signal or a divergence: what each
    :class:`EarlyStopping` that stopped it says, or that a callback set ``trainer.should_stop``."""
    said = [getattr(cb, "stopping_reason_message", None) for cb in trainer.callbacks if isinstance(cb, EarlyStopping)]
    messages = [m.replace(" Signaling Trainer to stop.", "") for m in said if m]
    return "stopped early: " + (" ".join(messages) if messages else "a callback set trainer.should_stop")
