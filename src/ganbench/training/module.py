"""GANModule: one training step is one GAN iteration, with manual optimisation."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from ganbench.losses.base import GANLoss
from ganbench.models.latent import sample_latent
from ganbench.regularizers.base import NoRegularizer, Regularizer
from ganbench.training.ema import EMAGenerator

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer], Any]
RealSampler = Callable[[int, torch.device], Tensor]


def rng_state() -> dict[str, Any]:
    """The global RNG states of torch (CPU and CUDA), numpy and Python, as tensors and plain
    containers, so that checkpoints load with ``torch.load(weights_only=True)``."""
    import random

    import numpy as np

    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {"version": int(version), "internal": list(internal), "gauss": gauss},
    }


def set_rng_state(state: dict[str, Any]) -> None:
    import random

    import numpy as np

    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state(
        (n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss"]))


@contextmanager
def preserved_rng() -> Iterator[None]:
    """A context in which the global RNG streams (torch, CUDA, numpy, Python) may be used freely:
    on exit they are exactly as on entry. Evaluation runs inside it, so it never changes training."""
    state = rng_state()
    try:
        yield
    finally:
        set_rng_state(state)


class NonFiniteError(RuntimeError):
    """A loss, an output or a weight became NaN or infinite at ``iteration``: the run has diverged."""

    def __init__(self, message: str, iteration: int) -> None:
        super().__init__(message)
        self.iteration = iteration


class GANModule(L.LightningModule):
    """Trains a generator against a discriminator with a pluggable objective.

    One ``training_step`` is one *iteration*: ``n_critic`` discriminator updates, each on its own
    real minibatch, then one generator update. The batch handed to ``training_step`` is either
    ``n_critic × batch_size`` real samples (split in order), or, for data sampled on the device, an
    iteration index, in which case ``real_sampler(n, device)`` provides the real samples.

    Every count the user sees is in iterations. Lightning's ``global_step`` counts each of the
    ``n_critic + 1`` optimiser steps, so ``iteration = global_step // (n_critic + 1)``.
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
        batch_size: int = 64,
        n_critic: int = 1,
        ema_decay: float | None = 0.999,
        ema_start: int = 0,
        log_every: int = 10,
        grad_clip: float | None = None,
        real_sampler: RealSampler | None = None,
        check_finite: bool = True,
    ) -> None:
        super().__init__()
        if n_critic < 1:
            raise ValueError(f"n_critic must be >= 1 (discriminator updates per iteration), got {n_critic}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if log_every < 1:
            raise ValueError(f"log_every must be >= 1, got {log_every}")
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
        self._real_for_generator = bool(getattr(loss, "uses_real_for_generator", False))
        self._output_is_logit = bool(getattr(loss, "output_is_logit", False))
        self.generator_ema = EMAGenerator(generator, ema_decay, ema_start) if ema_decay else None
        self._g_optimizer, self._d_optimizer = g_optimizer, d_optimizer
        self._g_scheduler, self._d_scheduler = g_scheduler, d_scheduler
        self.batch_size = int(batch_size)
        self.n_critic = int(n_critic)
        self.log_every = int(log_every)
        self.grad_clip = grad_clip
        self.real_sampler = real_sampler
        self.check_finite = check_finite
        self._schedulers: list[Any] = []
        self.latest: dict[str, float] = {}
        self._grad_norms: dict[str, Tensor] = {}
        self._log_now = False

    # ------------------------------------------------------------------ counting
    @property
    def steps_per_iteration(self) -> int:
        return self.n_critic + 1

    @property
    def iteration(self) -> int:
        """Completed GAN iterations (not Lightning's global_step)."""
        return self.global_step // self.steps_per_iteration

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
            out = [net(self.sample_latent(min(chunk, n - i), rng)) for i in range(0, n, chunk)]
        finally:
            net.train(was_training)
        return torch.cat(out)

    def _real_minibatches(self, batch: Any) -> list[Tensor]:
        if self.real_sampler is not None:
            real = self.real_sampler(self.n_critic * self.batch_size, self.device)
        else:
            real = batch[0] if isinstance(batch, (list, tuple)) else batch
        if real.shape[0] < self.n_critic:
            raise ValueError(f"a batch of {real.shape[0]} cannot feed n_critic={self.n_critic} updates")
        return list(real.chunk(self.n_critic))

    # ------------------------------------------------------------------ optimisation
    def configure_optimizers(self):
        d_opt = self._d_optimizer(self.discriminator.parameters())
        g_opt = self._g_optimizer(self.generator.parameters())
        self._d_opt_raw, self._g_opt_raw = d_opt, g_opt
        self._schedulers = [
            make(opt) for make, opt in ((self._d_scheduler, d_opt), (self._g_scheduler, g_opt)) if make is not None
        ]
        return [d_opt, g_opt]

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        # Runs after AMP unscaling, so norms and clipping see the true gradients.
        is_d = optimizer is getattr(self, "_d_opt_raw", None)
        params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        if self.grad_clip:
            norm = torch.nn.utils.clip_grad_norm_(params, self.grad_clip)
        elif self._log_now and params:
            norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm([p.grad for p in params])))
        else:
            return
        if self._log_now:
            self._grad_norms["d_grad_norm" if is_d else "g_grad_norm"] = norm.detach()

    def training_step(self, batch: Any, batch_idx: int) -> None:
        iteration = self.iteration + 1  # the iteration this step completes
        self._log_now = iteration % self.log_every == 0 or iteration == 1
        d_opt, g_opt = self.optimizers()
        reals = self._real_minibatches(batch)

        self.toggle_optimizer(d_opt)
        for real in reals:
            with torch.no_grad():
                fake = self.generator(self.sample_latent(real.shape[0]))
            real_out = self.discriminator(real)
            fake_out = self.discriminator(fake)
            d_loss = self.loss.discriminator_loss(real_out, fake_out)
            penalty = self.regularizer.penalty(self.discriminator, real, fake)
            d_opt.zero_grad(set_to_none=True)
            self.manual_backward(d_loss + penalty)
            d_opt.step()
            if self._after_d_step is not None:
                self._after_d_step(self.discriminator)
        self.untoggle_optimizer(d_opt)

        self.toggle_optimizer(g_opt)
        fake_for_g = self.generator(self.sample_latent(self.batch_size))
        fake_out_g = self.discriminator(fake_for_g)
        real_out_g = self.discriminator(reals[-1]) if self._real_for_generator else None
        g_loss = self.loss.generator_loss(fake_out_g, real_out_g)
        g_opt.zero_grad(set_to_none=True)
        self.manual_backward(g_loss)
        g_opt.step()
        self.untoggle_optimizer(g_opt)

        self._check_finite(iteration, d_loss=d_loss, g_loss=g_loss, penalty=penalty, d_real=real_out, d_fake=fake_out)
        for scheduler in self._schedulers:
            scheduler.step()
        if self.generator_ema is not None:
            self.generator_ema.update(self.generator, iteration)
        if self._log_now or iteration == self.trainer.max_steps // self.steps_per_iteration:
            self._record(iteration, d_loss, g_loss, penalty, real_out, fake_out)

    def _check_finite(self, iteration: int, **tensors: Tensor) -> None:
        """Stop the run within the iteration if a loss, an output or a weight is NaN or infinite.

        One host sync per iteration: each quantity is reduced to a finiteness flag on the device.
        """
        if not self.check_finite:
            return
        weights = {
            "discriminator weights": list(self.discriminator.parameters()),
            "generator weights": list(self.generator.parameters()),
        }
        flags = [torch.isfinite(t.detach()).all() for t in tensors.values()]
        flags += [torch.isfinite(torch.stack(torch._foreach_norm(ps))).all() for ps in weights.values()]
        ok = torch.stack(flags).tolist()
        if not all(ok):
            names = [*tensors, *weights]
            bad = [n for n, good in zip(names, ok) if not good]
            raise NonFiniteError(f"non-finite {', '.join(bad)} at iteration {iteration}", iteration)

    def _record(
        self, iteration: int, d_loss: Tensor, g_loss: Tensor, penalty: Tensor, real_out: Tensor, fake_out: Tensor
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
        self.log_metrics(metrics, iteration)

    # ------------------------------------------------------------------ exact resume
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Save what Lightning does not: the RNG streams (latents, penalties, real data) and the
        hand-stepped LR schedulers, so that a resumed run continues bit for bit."""
        checkpoint["ganbench"] = {
            "rng": rng_state(),
            "real_sampler": self.real_sampler.state_dict() if hasattr(self.real_sampler, "state_dict") else None,
            "schedulers": [s.state_dict() for s in self._schedulers],
            "iteration": self.iteration,
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._resume_state = checkpoint.get("ganbench")

    def on_train_start(self) -> None:
        state, self._resume_state = getattr(self, "_resume_state", None), None
        if state is not None:
            set_rng_state(state["rng"])
            if state.get("real_sampler") is not None and hasattr(self.real_sampler, "load_state_dict"):
                self.real_sampler.load_state_dict(state["real_sampler"])
            for scheduler, sd in zip(self._schedulers, state.get("schedulers", [])):
                scheduler.load_state_dict(sd)
        if self.trainer.world_size > 1:
            # seed_everything gave every rank the same streams: give each rank its own latents,
            # penalty noise and real data. (A resumed DDP run derives them again from the
            # iteration; the checkpoint holds rank 0's streams only.)
            rank, it = self.global_rank, self.iteration
            torch.manual_seed(int(torch.initial_seed()) + 7919 * (rank + 1) + 104729 * it)
            if hasattr(self.real_sampler, "for_rank"):
                self.real_sampler.for_rank(rank, it)

    def log_metrics(self, metrics: dict[str, float], iteration: int) -> None:
        """Send ``metrics`` to every logger with the iteration as the x-axis (rank 0 only)."""
        if self.trainer.is_global_zero:
            for logger in self.loggers:
                logger.log_metrics({**metrics, "iteration": iteration}, step=iteration)
