"""GANModule: one training step is one GAN iteration, with manual optimisation."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from ganbench._compat import LIGHTNING_PLAIN_ATTRIBUTES, foreach_norm, step_without_lightning_layers
from ganbench.counts import ceil_div, count_errors
from ganbench.losses.base import GANLoss
from ganbench.models.latent import generate, sample_latent
from ganbench.regularizers.base import NoRegularizer, Regularizer
from ganbench.rng import rng_state, set_rng_state
from ganbench.schema import TrainSchema
from ganbench.training.direct import plain_backward, plain_optimizer_step
from ganbench.training.distributed import gather_from_ranks
from ganbench.training.ema import EMAGenerator
from ganbench.training.finite import FiniteCheck, NonFiniteError
from ganbench.training.overhead import callbacks_read_metrics, no_nvml_check_on_cpu

__all__ = ["GANModule", "NonFiniteError"]

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer], Any]
RealSampler = Callable[[int, torch.device], Tensor]


class _HotState:
    """Per-iteration flags, kept off the ``nn.Module`` so that writing them skips
    ``Module.__setattr__`` (which checks parameters, submodules and buffers at every write)."""

    __slots__ = ("log_now",)

    def __init__(self) -> None:
        self.log_now = False


# The defaults of the root config (ganbench.schema): a module built from Python with no settings
# trains what `ganbench-train` does.
_DEFAULTS = TrainSchema()
# The module's own setting (conf/module/gan.yaml): iterations between training metrics handed to
# Lightning's callback_metrics when a callback may read them.
CALLBACK_METRICS_EVERY = 100


class GANModule(L.LightningModule):
    """Trains a generator against a discriminator with a pluggable objective.

    One ``training_step`` is one *iteration*: ``n_critic`` discriminator updates, each on its own
    real minibatch, then one generator update. The batch handed to ``training_step`` is either
    ``n_critic × batch_size`` real samples (split in order), or, for data sampled on the device, an
    iteration index, in which case ``real_sampler(n, device)`` provides the real samples.

    Every count the user sees is in iterations. Lightning's ``global_step`` counts each of the
    ``n_critic + 1`` optimiser steps, so ``iteration = global_step // (n_critic + 1)``. The module is
    the run's one clock: :attr:`iteration`, :attr:`last_iteration` (``iterations``, the run's
    length), :attr:`is_last_iteration`, and :meth:`lightning_steps` for the Trainer's ``max_steps``;
    callbacks and datamodules ask it rather than converting ``global_step`` themselves.

    Settings out of range raise :class:`ValueError` naming the config key (``n_critic``, ``ema.decay``
    …) and the fix, all problems at once.

    With data sampled on the device (``real_sampler``), one ``training_step`` may run up to
    ``iterations_per_step`` iterations, so that Lightning's per-step work (fetching a batch, the
    batch hooks of every callback, the progress bar) is paid once per ``iterations_per_step``
    iterations. A step always ends at a multiple of ``iterations_per_step``, of every period in
    ``step_boundaries`` (evaluations, checkpoints) and at the last iteration, so the callbacks still
    act on exactly those iterations. The iterations themselves (their data, latents and updates) do
    not depend on how they are grouped into steps, so results and resume are bit-identical.
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        loss: GANLoss,
        regularizer: Regularizer | None = None,
        *,
        g_optimizer: OptimizerFactory,
        d_optimizer: OptimizerFactory,
        g_scheduler: SchedulerFactory | None = None,
        d_scheduler: SchedulerFactory | None = None,
        batch_size: int = _DEFAULTS.batch_size,
        n_critic: int = _DEFAULTS.n_critic,
        ema_decay: float | None = _DEFAULTS.ema.decay,
        ema_start: int = _DEFAULTS.ema.start,
        log_every: int = _DEFAULTS.log_every,
        grad_clip: float | None = _DEFAULTS.grad_clip,
        real_sampler: RealSampler | None = None,
        check_finite: bool = True,
        iterations_per_step: int = _DEFAULTS.iterations_per_step,
        step_boundaries: Sequence[int | None] = (),
        compile: bool = False,
        channels_last: bool = False,
        iterations: int | None = _DEFAULTS.iterations,
        callback_metrics_every: int = CALLBACK_METRICS_EVERY,
    ) -> None:
        super().__init__()
        errors = count_errors(
            iterations=iterations,
            n_critic=n_critic,
            batch_size=batch_size,
            log_every=log_every,
            iterations_per_step=iterations_per_step,
        )
        if callback_metrics_every < 1:
            errors.append(
                "module.callback_metrics_every must be >= 1 (iterations between training metrics in Lightning's "
                f"callback_metrics), got {callback_metrics_every}; set e.g. module.callback_metrics_every=100"
            )
        if grad_clip is not None and not grad_clip > 0:
            errors.append(f"grad_clip must be > 0 or null (no clipping), got {grad_clip}; set e.g. grad_clip=10")
        if iterations is None and iterations_per_step > 1 and real_sampler is not None:
            errors.append(
                f"iterations_per_step={iterations_per_step} needs the run's length (iterations) so that no step "
                "runs past it; give iterations=N or iterations_per_step=1"
            )
        if errors:
            raise ValueError("; ".join(errors))
        if not hasattr(generator, "latent_dim"):
            raise TypeError(
                f"{type(generator).__name__} has no `latent_dim` attribute; a ganbench generator "
                "must say the size of its latent vector"
            )
        for obj, needed in ((loss, ("discriminator_loss", "generator_loss")), (regularizer, ("penalty",))):
            missing = [m for m in needed if obj is not None and not callable(getattr(obj, m, None))]
            if missing:
                raise TypeError(
                    f"{type(obj).__name__} has no {' or '.join(missing)} method; see ganbench.losses.GANLoss and "
                    "ganbench.regularizers.Regularizer for what a loss and a regularizer provide"
                )
        self.automatic_optimization = False
        self.generator = generator
        self.discriminator = discriminator
        self.loss = loss
        self.regularizer = regularizer if regularizer is not None else NoRegularizer()
        # optional parts of a duck-typed loss or regularizer (the base classes define them)
        self._after_d_step = getattr(self.regularizer, "after_discriminator_step", None)
        # the base class's penalty is a constant zero: D's loss is then backpropagated alone (same gradients)
        self._adds_penalty = getattr(type(self.regularizer), "penalty", None) is not Regularizer.penalty
        self._real_for_generator = bool(getattr(loss, "uses_real_for_generator", False))
        self._output_is_logit = bool(getattr(loss, "output_is_logit", False))
        self.generator_ema = EMAGenerator(generator, ema_decay, ema_start) if ema_decay else None
        if compile:
            # In place (nn.Module.compile): the state-dict keys stay those of the eager modules, so
            # checkpoints of compiled and eager runs are interchangeable. The EMA copy, made above,
            # stays eager: it only samples, in eval mode, at evaluations.
            generator.compile()
            discriminator.compile()
        self._g_optimizer, self._d_optimizer = g_optimizer, d_optimizer
        self._g_scheduler, self._d_scheduler = g_scheduler, d_scheduler
        self.batch_size = int(batch_size)
        self.n_critic = int(n_critic)
        self.log_every = int(log_every)
        self.callback_metrics_every = int(callback_metrics_every)
        self.grad_clip = grad_clip
        self.real_sampler = real_sampler
        self.check_finite = check_finite
        self.iterations_per_step = int(iterations_per_step)
        self.step_boundaries = tuple(int(b) for b in step_boundaries if b)
        self.compiled = bool(compile)
        self.channels_last = bool(channels_last)
        self.iterations = None if iterations is None else int(iterations)
        self._finite = FiniteCheck()
        self._hot = _HotState()
        self._d_trainable: list[nn.Parameter] = []
        self._weights: dict[str, list[nn.Parameter]] = {}
        self._schedulers: list[Any] = []
        self.latest: dict[str, float] = {}
        self._monitored: dict[str, float] = {}  # the latest log point's values, for self.log_dict at the step's end
        self._grad_norms: dict[str, Tensor] = {}
        # Lightning's backward / optimiser-step layers, skipped when they would do nothing (decided
        # at each fit's start, see ganbench.training.direct)
        self._direct_backward = False
        self._direct_step = False
        self._feeds_callbacks = True  # decided at each fit's start (callbacks_read_metrics)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in LIGHTNING_PLAIN_ATTRIBUTES:
            self.__dict__[name] = value
        else:
            super().__setattr__(name, value)

    # ------------------------------------------------------------------ counting
    @property
    def steps_per_iteration(self) -> int:
        return self.n_critic + 1

    @property
    def iteration(self) -> int:
        """Completed GAN iterations (not Lightning's global_step)."""
        return self.global_step // self.steps_per_iteration

    @property
    def last_iteration(self) -> int | None:
        """The iteration the run ends at (the config's ``iterations``; a resumed run extended with
        ``iterations=N`` ends at N), or None for an open-ended module."""
        return self.iterations

    @property
    def is_last_iteration(self) -> bool:
        """Whether the run's last iteration is completed."""
        return self.iterations is not None and self.iteration >= self.iterations

    def lightning_steps(self, iterations: int | None = None) -> int:
        """Lightning's ``global_step`` once ``iterations`` iterations are completed (default: the
        run's last), i.e. the Trainer's ``max_steps``: ``iterations × (n_critic + 1)``, since every
        optimiser step counts (Lightning issue #17958). −1 (no limit) for an open-ended module."""
        iterations = self.iterations if iterations is None else iterations
        return -1 if iterations is None else int(iterations) * self.steps_per_iteration

    def iterations_in_step(self, first: int) -> int:
        """How many iterations the ``training_step`` that starts with iteration ``first`` runs: up to
        the next multiple of ``iterations_per_step``, of each period in ``step_boundaries``, or the
        last iteration, whichever comes first. One when the data comes from the DataLoader."""
        k = self.iterations_per_step
        if self.real_sampler is None or k == 1:
            return 1
        end = ceil_div(first, k) * k  # the first multiple of k at or after `first`
        for every in self.step_boundaries:
            end = min(end, ceil_div(first, every) * every)
        last = self.last_iteration
        if last is not None:
            end = min(end, last)
        return max(1, end - first + 1)

    # ------------------------------------------------------------------ sampling
    @property
    def latent_dim(self) -> int:
        return int(self.generator.latent_dim)

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` latents from the generator's ``latent_distribution`` (N(0, I) when it declares none)."""
        distribution = getattr(self.generator, "latent_distribution", "normal")
        return sample_latent(distribution, n, self.latent_dim, self.device, generator)

    @torch.no_grad()
    def sample(self, n: int, *, seed: int | None = None, use_ema: bool = True, chunk: int = 2048) -> Tensor:
        """``n`` generated samples (from the EMA generator when there is one), in eval mode.

        With ``seed``, the latents come from a private generator, so repeated calls give the same
        samples and the training RNG streams are untouched.
        """
        net = self.generator_ema.module if (use_ema and self.generator_ema is not None) else self.generator
        rng = torch.Generator(device=self.device).manual_seed(seed) if seed is not None else None
        was_training = net.training
        net.eval()
        try:
            return generate(net, n, rng, self.device, chunk)
        finally:
            net.train(was_training)

    def _real_minibatches(self, batch: Any) -> list[Tensor]:
        if self.real_sampler is not None:
            real = self.real_sampler(self.n_critic * self.batch_size, self.device)
        else:
            real = batch[0] if isinstance(batch, (list, tuple)) else batch
            if self.channels_last and real.dim() == 4:
                real = real.contiguous(memory_format=torch.channels_last)
        if real.shape[0] < self.n_critic:
            raise ValueError(f"a batch of {real.shape[0]} cannot feed n_critic={self.n_critic} updates")
        return [real] if self.n_critic == 1 else list(real.chunk(self.n_critic))

    # ------------------------------------------------------------------ run setup
    def setup(self, stage: str) -> None:
        self._run_context = contextlib.ExitStack()
        self._run_context.enter_context(no_nvml_check_on_cpu())  # see ganbench.training.overhead

    def teardown(self, stage: str) -> None:
        context = self.__dict__.pop("_run_context", None)
        if context is not None:
            context.close()

    # ------------------------------------------------------------------ optimisation
    def configure_optimizers(self):
        d_opt = self._d_optimizer(self.discriminator.parameters())
        g_opt = self._g_optimizer(self.generator.parameters())
        self._d_opt_raw, self._g_opt_raw = d_opt, g_opt
        self._d_trainable = [p for p in self.discriminator.parameters() if p.requires_grad]
        self._weights = {
            "discriminator weights": list(self.discriminator.parameters()),
            "generator weights": list(self.generator.parameters()),
        }
        self._schedulers = [
            make(opt) for make, opt in ((self._d_scheduler, d_opt), (self._g_scheduler, g_opt)) if make is not None
        ]
        return [d_opt, g_opt]

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        # Runs after AMP unscaling, so norms and clipping see the true gradients.
        log_now = self._hot.log_now
        if not (self.grad_clip or log_now):
            return
        is_d = optimizer is getattr(self, "_d_opt_raw", None)
        params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        if self.grad_clip:
            norm = torch.nn.utils.clip_grad_norm_(params, self.grad_clip)
        elif params:
            norm = torch.linalg.vector_norm(torch.stack(foreach_norm([p.grad for p in params])))
        else:
            return
        if log_now:
            self._grad_norms["d_grad_norm" if is_d else "g_grad_norm"] = norm.detach()

    def training_step(self, batch: Any, batch_idx: int) -> None:
        d_opt, g_opt = self.optimizers()
        first = self.iteration + 1  # the first iteration this step completes
        last = self.last_iteration
        for iteration in range(first, first + self.iterations_in_step(first)):
            self._gan_iteration(iteration, batch, d_opt, g_opt, iteration == last)
        if self._monitored:  # callbacks run after the step, so they see only its last log point's values
            self._log_to_lightning(self._monitored)
            self._monitored = {}

    def _penalty_context(self) -> contextlib.AbstractContextManager:
        """Gradient penalties differentiate D twice (∇ₓD, then the backward of ‖∇ₓD‖), which
        compiled graphs (AOTAutograd) do not support: with ``compiled``, the penalty's own D
        evaluation runs D's eager forward. The loss terms still use the compiled D."""
        if self.compiled and getattr(self.regularizer, "uses_input_gradients", False):
            return torch.compiler.set_stance("force_eager")
        return contextlib.nullcontext()

    def _gan_iteration(self, iteration: int, batch: Any, d_opt: Any, g_opt: Any, is_last: bool) -> None:
        """One GAN iteration: ``n_critic`` D updates, one G update, the divergence check, the LR
        schedulers, the EMA, and the metrics at log points."""
        log_now = iteration % self.log_every == 0 or iteration == 1
        self._hot.log_now = log_now
        reals = self._real_minibatches(batch)

        # D step. G runs under no_grad, so G's parameters need no freezing.
        for real in reals:
            with torch.no_grad():
                fake = self.generator(self.sample_latent(real.shape[0]))
            real_out = self.discriminator(real)
            fake_out = self.discriminator(fake)
            d_loss = self.loss.discriminator_loss(real_out, fake_out)
            with self._penalty_context():
                penalty = self.regularizer.penalty(self.discriminator, real, fake)
            d_opt.zero_grad(set_to_none=True)
            self._backward(d_loss + penalty if self._adds_penalty else d_loss)
            self._step(d_opt)
            if self._after_d_step is not None:
                self._after_d_step(self.discriminator)

        # G step: D's trainable parameters are frozen, so its backward computes no D gradients.
        # (A direct requires_grad flip of D's own list, instead of Lightning's toggle_optimizer,
        # which rebuilds a dict over the parameters of both optimisers twice per update.)
        frozen = self._d_trainable
        for p in frozen:
            p.requires_grad_(False)
        try:
            fake_for_g = self.generator(self.sample_latent(self.batch_size))
            fake_out_g = self.discriminator(fake_for_g)
            real_out_g = self.discriminator(reals[-1]) if self._real_for_generator else None
            g_loss = self.loss.generator_loss(fake_out_g, real_out_g)
            g_opt.zero_grad(set_to_none=True)
            self._backward(g_loss)
            self._step(g_opt)
        finally:
            for p in frozen:
                p.requires_grad_(True)

        self._check_finite(iteration, d_loss=d_loss, g_loss=g_loss, penalty=penalty, d_real=real_out, d_fake=fake_out)
        for scheduler in self._schedulers:
            scheduler.step()
        if self.generator_ema is not None:
            self.generator_ema.update(self.generator, iteration)
        if log_now or is_last:
            self._record(iteration, d_loss, g_loss, penalty, real_out, fake_out, is_last)

    def _backward(self, loss: Tensor) -> None:
        """``manual_backward(loss)``, or ``loss.backward()`` where that is all it would do."""
        if self._direct_backward:
            loss.backward()
        else:
            self.manual_backward(loss)

    def _step(self, optimizer: Any) -> None:
        """``optimizer.step()`` of a LightningOptimizer, or, where Lightning's layers would only call
        them, the manual loop's step counters around the wrapped optimizer's ``step(closure)``, whose
        closure runs this module's ``on_before_optimizer_step``, as Lightning's does (so an optimiser
        that calls its closure several times, or never, sees the same calls)."""
        if self._direct_step:
            step_without_lightning_layers(
                optimizer, functools.partial(self.on_before_optimizer_step, optimizer.optimizer)
            )
        else:
            optimizer.step()

    def _check_finite(self, iteration: int, **tensors: Tensor) -> None:
        """Stop the run if a loss, an output or a weight is NaN or infinite (see
        :mod:`ganbench.training.finite`): within the iteration on the CPU; on CUDA without a
        blocking host sync, at the end of the next iteration at the latest."""
        if self.check_finite:
            self._finite(iteration, tensors, self._weights)

    def on_train_end(self) -> None:
        self.check_pending()  # a deferred check of the last iteration (the callbacks usually did it)

    def check_pending(self) -> None:
        """Settle a deferred divergence check now (before a checkpoint or an evaluation): raises
        :class:`NonFiniteError` if the last iteration was not finite."""
        if self.check_finite:
            self._finite.resolve()

    def _record(
        self,
        iteration: int,
        d_loss: Tensor,
        g_loss: Tensor,
        penalty: Tensor,
        real_out: Tensor,
        fake_out: Tensor,
        is_last: bool = False,
    ) -> None:
        with torch.no_grad():
            if self._output_is_logit:
                d_real, d_fake = torch.sigmoid(real_out).mean(), torch.sigmoid(fake_out).mean()
            else:
                d_real, d_fake = real_out.mean(), fake_out.mean()
            names = ["d_loss", "g_loss", "regularizer", "d_real", "d_fake", *self._grad_norms]
            values = torch.stack([d_loss, g_loss, penalty, d_real, d_fake, *self._grad_norms.values()])
            values = values.detach().float().cpu().tolist()
        self._grad_norms = {}
        metrics = dict(zip(names, values))
        metrics["lr_d"] = self._d_opt_raw.param_groups[0]["lr"]
        metrics["lr_g"] = self._g_opt_raw.param_groups[0]["lr"]
        self.latest = metrics
        self._log_to_loggers(metrics, iteration)
        # To callback_metrics at most once per Lightning step, at log points that are multiples of
        # callback_metrics_every when a callback may read them, and at the last iteration (what
        # self.log costs: ganbench.training.overhead). The losses, D outputs and gradient norms;
        # learning rates are Lightning's LearningRateMonitor's job.
        if is_last or (self._feeds_callbacks and iteration % self.callback_metrics_every == 0):
            self._monitored = {k: metrics[k] for k in names}

    # ------------------------------------------------------------------ exact resume
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Save what Lightning does not: the RNG streams (latents, penalties, real data) and the
        hand-stepped LR schedulers, so that a resumed run continues bit for bit. Under DDP every
        rank draws from its own streams: ``ranks`` holds each rank's, gathered (every rank runs
        this hook; rank 0 writes the file)."""
        own = self._stream_state()
        checkpoint["ganbench"] = {
            **own,  # rank 0's (the only rank of a single-process run)
            "ranks": gather_from_ranks(own) if self.trainer.world_size > 1 else None,
            "schedulers": [s.state_dict() for s in self._schedulers],
            "iteration": self.iteration,
        }

    def _stream_state(self) -> dict[str, Any]:
        """This process's random streams: the global RNGs and the real-data sampler's position."""
        sampler = self.real_sampler
        return {"rng": rng_state(), "real_sampler": sampler.state_dict() if hasattr(sampler, "state_dict") else None}

    def _restore_streams(self, streams: dict[str, Any]) -> None:
        set_rng_state(streams["rng"])
        if streams.get("real_sampler") is not None and hasattr(self.real_sampler, "load_state_dict"):
            self.real_sampler.load_state_dict(streams["real_sampler"])

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._resume_state = checkpoint.get("ganbench")

    def on_train_start(self) -> None:
        self._direct_backward = plain_backward(self.trainer, self)
        self._direct_step = plain_optimizer_step(self.trainer, self, GANModule.on_before_optimizer_step)
        self._feeds_callbacks = callbacks_read_metrics(self.trainer.callbacks)
        state, self._resume_state = getattr(self, "_resume_state", None), None
        world, rank = self.trainer.world_size, self.global_rank
        per_rank = (state or {}).get("ranks")
        own_streams_saved = per_rank is not None and len(per_rank) == world
        if state is not None:
            self._restore_streams(per_rank[rank] if own_streams_saved else state)
            for scheduler, sd in zip(self._schedulers, state.get("schedulers", [])):
                scheduler.load_state_dict(sd)
        if world > 1 and not own_streams_saved:
            # seed_everything gave every rank the same streams: give each rank its own latents,
            # penalty noise and real data, derived from the rank and the iteration (a fresh run; or
            # a checkpoint without this world size's per-rank streams, which then cannot continue
            # bit for bit).
            it = self.iteration
            torch.manual_seed(int(torch.initial_seed()) + 7919 * (rank + 1) + 104729 * it)
            if hasattr(self.real_sampler, "for_rank"):
                self.real_sampler.for_rank(rank, it)

    def log_metrics(self, metrics: dict[str, float], iteration: int) -> None:
        """Record ``metrics``, measured at ``iteration``, in Lightning and in every logger.

        - ``self.log_dict(on_step=True, logger=False)`` of the numeric metrics: they land in
          ``trainer.callback_metrics``, where stock callbacks read them (``EarlyStopping(monitor=…)``,
          ``ModelCheckpoint(monitor=…)``, pruning callbacks).
        - ``Logger.log_metrics(…, step=iteration)`` on rank 0: one row (CSV), point (TensorBoard) or
          step (W&B) per call, at the GAN iteration, with an ``iteration`` column.

        The loggers are not fed through Lightning's own flush (``logger=True``): Lightning writes
        *every* value logged since the epoch began at each flush (every ``log_every_n_steps``
        Lightning steps), so a metric logged at iteration 500 would be written again, stale, at every
        later log point; and a Lightning step may run several iterations. tests/test_compat.py pins
        that upstream behaviour. Call it from a training hook (``training_step`` or a callback's
        ``on_train_batch_end``): ``self.log`` is refused outside Lightning's control flow.
        """
        self._log_to_lightning(metrics)
        self._log_to_loggers(metrics, iteration)

    def _log_to_lightning(self, metrics: dict[str, Any]) -> None:
        numeric = {k: v for k, v in metrics.items() if isinstance(v, (int, float, Tensor))}
        if numeric:
            # CPU tensors: Lightning keeps them where they are (a float would be copied to the device)
            values = torch.tensor([float(v) for v in numeric.values()], dtype=torch.float64)
            self.log_dict(dict(zip(numeric, values)), on_step=True, on_epoch=False, logger=False)

    def _log_to_loggers(self, metrics: dict[str, Any], iteration: int) -> None:
        if self.trainer.is_global_zero:
            for logger in self.loggers:
                logger.log_metrics({**metrics, "iteration": iteration}, step=iteration)
