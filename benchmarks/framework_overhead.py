"""Time GANModule training against two hand-written PyTorch loops doing the same work.

* **parts loop**: built from ganbench's own parts (the config's generator, discriminator, loss,
  regularizer and optimisers, the mixture sampler, ``EMAGenerator``), so it runs any config.
* **minimal loop**: what a researcher writes from scratch, with no ganbench code at all: two
  ``nn.Sequential`` MLPs of the shapes of ``conf/model/mlp.yaml`` (3 hidden layers of 128,
  ReLU / LeakyReLU(0.2)), the non-saturating loss through ``F.softplus``, ``torch.optim.Adam``,
  batch 256, an EMA copy updated by ``lerp_``, and ring data drawn with ``torch.randint`` +
  ``torch.randn``. It does the same algorithm as ganbench (fresh latents for the generator update,
  D frozen by ``requires_grad_`` during it), so the ratio measures overhead, not a different
  algorithm. Default config only (ring, mlp, nonsaturating, adam, n_critic 1, no regularizer).

All three run in one process, interleaved round by round (the order rotates), at each thread count
of ``--threads``; only steady-state iterations are timed (after ``--warmup`` iterations of each
round). The result is the ratio of iterations per second, ganbench / baseline (1.0 = no overhead),
as the median and the min–max over the rounds, each round's ratio taken from side-by-side runs.

    python benchmarks/framework_overhead.py --iterations 1500 --rounds 5 --threads 1 2
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback
from omegaconf import OmegaConf
from torch import nn

from ganbench.config import compose
from ganbench.experiment import build
from ganbench.models.packing import build_discriminator
from ganbench.training import EMAGenerator

warnings.filterwarnings("ignore")


class SteadyStateTimer(Callback):
    """Times the iterations after the first ``warmup`` ones. It counts GAN iterations (the module's
    ``iteration``), not Lightning batches, so it is right however many iterations a step runs."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.start, self.start_iteration, self.end, self.count = warmup, None, None, None, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        now, iteration = time.perf_counter(), pl_module.iteration
        if self.start is None:
            if iteration >= self.warmup:
                self.start, self.start_iteration = now, iteration
            return
        self.end, self.count = now, iteration - self.start_iteration


def framework_round(cfg, iterations: int, warmup: int, progress_bar: bool, compiled: bool = False) -> float:
    """ganbench as ``ganbench-train`` runs it: ``experiment.build`` (all callbacks: the divergence
    check, signal handling, checkpoint bookkeeping, metric logging), minus evaluations and checkpoint
    files, which the loops do not do either."""
    cfg = copy.deepcopy(cfg)
    cfg.iterations = iterations
    cfg.eval.every = None
    cfg.checkpoint.every = None
    cfg.trainer.enable_progress_bar = progress_bar
    cfg.trainer.enable_model_summary = False
    if compiled:
        cfg.model.compile = True
    timer = SteadyStateTimer(warmup)
    with tempfile.TemporaryDirectory() as tmp:
        exp = build(cfg, Path(tmp))
        exp.trainer.callbacks.insert(0, timer)  # its batch-end runs before the final evaluation
        exp.trainer.fit(exp.module, datamodule=exp.datamodule)
    return timer.count / (timer.end - timer.start)


def parts_round(cfg, iterations: int, warmup: int) -> float:
    """A plain loop built from ganbench's parts (any config)."""
    dev = torch.device("cuda" if cfg.accelerator.accelerator in ("gpu", "cuda") else "cpu")
    torch.manual_seed(cfg.seed)
    g, d = instantiate(cfg.model.generator).to(dev), build_discriminator(cfg.model.discriminator).to(dev)
    loss = instantiate(cfg.loss)
    reg = instantiate(cfg.regularizer)
    g_opt = instantiate(cfg.optimizer.generator)(g.parameters())
    d_opt = instantiate(cfg.optimizer.discriminator)(d.parameters())
    ema = EMAGenerator(g, cfg.ema.decay).to(dev)
    mixture = instantiate(cfg.dataset, iterations=iterations).mixture
    rng = torch.Generator(device=dev).manual_seed(cfg.seed + 1)
    B, n_critic, latent = cfg.batch_size, cfg.n_critic, g.latent_dim
    for it in range(1, iterations + 1):
        if it == warmup + 1:
            if dev.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
        real_all = mixture.sample(n_critic * B, rng)
        g.requires_grad_(False)
        for real in real_all.chunk(n_critic):
            with torch.no_grad():
                fake = g(torch.randn(B, latent, device=dev))
            d_loss = loss.discriminator_loss(d(real), d(fake)) + reg.penalty(d, real, fake)
            d_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            d_opt.step()
            reg.after_discriminator_step(d)
        g.requires_grad_(True)
        d.requires_grad_(False)
        g_loss = loss.generator_loss(d(g(torch.randn(B, latent, device=dev))))
        g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        g_opt.step()
        d.requires_grad_(True)
        ema.update(g, it)
        if it % cfg.log_every == 0:  # a hand loop also reads its losses now and then
            _ = (d_loss.item(), g_loss.item())
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return (iterations - warmup) / (time.perf_counter() - start)


def minimal_round(iterations: int, warmup: int, seed: int = 0, log_every: int = 10) -> float:
    """The default experiment written from scratch with plain torch (no ganbench code): ring of 8
    Gaussians (radius 1, σ 0.01), MLPs 2→128→128→128→2 (ReLU) and 2→128→128→128→1 (LeakyReLU 0.2),
    non-saturating loss, Adam(lr 1e-3, betas (0.5, 0.999)), batch 256, EMA decay 0.99 by lerp_."""
    # A script that never imports Lightning lacks the variable Lightning sets at import, which makes
    # every Adam.step reload NVML on a machine without a GPU (see ganbench/training/overhead.py).
    nvml = os.environ.pop("PYTORCH_NVML_BASED_CUDA_CHECK", None)
    try:
        return _minimal_loop(iterations, warmup, seed, log_every)
    finally:
        if nvml is not None:
            os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = nvml


def _minimal_loop(iterations: int, warmup: int, seed: int, log_every: int) -> float:
    torch.manual_seed(seed)
    batch, latent, hidden, lr, betas, decay = 256, 2, 128, 1e-3, (0.5, 0.999), 0.99

    def mlp(n_in: int, n_out: int, act: nn.Module) -> nn.Sequential:
        return nn.Sequential(
            nn.Linear(n_in, hidden), act, nn.Linear(hidden, hidden), act, nn.Linear(hidden, hidden), act,
            nn.Linear(hidden, n_out),
        )  # fmt: skip

    g, d = mlp(latent, 2, nn.ReLU()), mlp(2, 1, nn.LeakyReLU(0.2))
    ema = copy.deepcopy(g).requires_grad_(False)
    g_opt = torch.optim.Adam(g.parameters(), lr=lr, betas=betas)
    d_opt = torch.optim.Adam(d.parameters(), lr=lr, betas=betas)
    angles = torch.arange(8) * (2 * math.pi / 8)
    centers = torch.stack([angles.cos(), angles.sin()], dim=1)
    data_rng = torch.Generator().manual_seed(seed + 1)
    g_params, ema_params = list(g.parameters()), list(ema.parameters())
    for it in range(1, iterations + 1):
        if it == warmup + 1:
            start = time.perf_counter()
        real = centers[torch.randint(8, (batch,), generator=data_rng)] + 0.01 * torch.randn(
            batch, 2, generator=data_rng
        )
        with torch.no_grad():
            fake = g(torch.randn(batch, latent))
        d_loss = F.softplus(-d(real)).mean() + F.softplus(d(fake)).mean()
        d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        d_opt.step()
        d.requires_grad_(False)
        g_loss = F.softplus(-d(g(torch.randn(batch, latent)))).mean()
        g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        g_opt.step()
        d.requires_grad_(True)
        with torch.no_grad():
            for p_ema, p in zip(ema_params, g_params):
                p_ema.lerp_(p, 1.0 - decay)
        if it % log_every == 0:
            _ = (d_loss.item(), g_loss.item())
    return (iterations - warmup) / (time.perf_counter() - start)


def end_to_end_seconds(overrides: list[str], iterations: int) -> float:
    """``wall_seconds`` of a whole ``ganbench-train`` run (``experiment.run``: evaluations every
    ``eval.every``, checkpoints, the progress bar, the summary) of ``iterations`` iterations."""
    from ganbench.experiment import run

    with tempfile.TemporaryDirectory() as tmp:
        return float(run(compose([*overrides, f"iterations={iterations}"]), Path(tmp) / "run")["wall_seconds"])


def minimal_seconds(iterations: int) -> float:
    start = time.perf_counter()
    minimal_round(iterations, 0)
    return time.perf_counter() - start


def end_to_end(args) -> None:
    """The steady-state time per iteration of ``ganbench-train`` and of the minimal loop, each from the
    difference of a long and a short run (start-up and the final evaluation cancel out; the periodic
    evaluations and checkpoints of ganbench-train in between do not)."""
    short, long = args.end_to_end
    torch.set_num_threads(args.threads[0])
    per_fw, per_min = [], []
    for r in range(args.rounds):
        fw = [end_to_end_seconds(list(args.overrides), n) for n in (short, long)]
        mn = [minimal_seconds(n) for n in (short, long)]
        per_fw.append((fw[1] - fw[0]) / (long - short))
        per_min.append((mn[1] - mn[0]) / (long - short))
        print(
            f"round {r + 1}: ganbench-train {1000 * per_fw[-1]:.2f} ms/it, minimal loop {1000 * per_min[-1]:.2f} ms/it,"
            f" ratio {per_min[-1] / per_fw[-1]:.3f}",
            flush=True,
        )
    ratios = [m / f for m, f in zip(per_min, per_fw)]
    print(
        f"\nend to end ({long} − {short} iterations, {args.threads[0]} thread(s), {args.rounds} rounds): "
        "ganbench-train "
        f"{1000 * statistics.median(per_fw):.2f} ms/it, minimal loop {1000 * statistics.median(per_min):.2f} ms/it, "
        f"ratio (speed, ganbench / minimal) median {statistics.median(ratios):.3f} "
        f"(min {min(ratios):.3f}, max {max(ratios):.3f}); overrides={args.overrides or 'none'}"
    )


def is_default_toy(cfg) -> bool:
    """Whether ``cfg`` is the experiment the minimal loop hard-codes."""
    m, o = cfg.model, cfg.optimizer
    return (
        cfg.dataset._target_.endswith("RingDataModule")
        and (cfg.dataset.num_modes, cfg.dataset.radius, cfg.dataset.sigma) == (8, 1.0, 0.01)
        and m.generator._target_.endswith("MLPGenerator")
        and (m.generator.latent_dim, m.generator.hidden_dim, m.generator.num_layers) == (2, 128, 3)
        and (m.discriminator.hidden_dim, m.discriminator.num_layers) == (128, 3)
        and cfg.loss._target_.endswith("NonSaturatingLoss")
        and cfg.loss.get("real_label") in (None, 1.0)
        and cfg.regularizer._target_.endswith("NoRegularizer")
        and o.generator._target_ == o.discriminator._target_ == "torch.optim.Adam"
        and o.generator.lr == o.discriminator.lr == 1e-3
        and list(o.generator.betas) == list(o.discriminator.betas) == [0.5, 0.999]
        and not o.get("scheduler")
        and (cfg.batch_size, cfg.n_critic, cfg.ema.decay, cfg.ema.start, cfg.grad_clip) == (256, 1, 0.99, 0, None)
        and cfg.accelerator.accelerator == "cpu"
    )


def summarise(name: str, fw: list[float], base: list[float]) -> str:
    ratios = [a / b for a, b in zip(fw, base)]
    return (
        f"  vs {name:<13} {statistics.median(base):7.1f} it/s ({1000 / statistics.median(base):.2f} ms/it): "
        f"ratio median {statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f})"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iterations", type=int, default=1500)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch intra-op thread counts to run")
    p.add_argument("--progress-bar", action="store_true", help="show the framework's progress bar (as by default)")
    p.add_argument(
        "--with-compiled", action="store_true", help="also time ganbench with model.compile=true (compiled / eager)"
    )
    p.add_argument(
        "--end-to-end",
        nargs=2,
        type=int,
        metavar=("SHORT", "LONG"),
        help="instead: whole ganbench-train runs of SHORT and LONG iterations (defaults: evaluations, "
        "checkpoints, progress bar) against the minimal loop, per iteration from the difference",
    )
    p.add_argument("overrides", nargs="*", help="config overrides, e.g. loss=hinge regularizer=gp accelerator=gpu")
    args = p.parse_args()
    if args.end_to_end:
        end_to_end(args)
        return

    cfg = compose(list(args.overrides))
    cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    minimal = is_default_toy(cfg)
    if not minimal:
        print("(the minimal loop hard-codes the default toy experiment: skipped for these overrides)")
    lines = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        runs: dict[str, list[float]] = {"ganbench": [], "parts loop": [], "minimal loop": []}
        sides = {
            "ganbench": lambda: framework_round(cfg, args.iterations, args.warmup, args.progress_bar),
            "parts loop": lambda: parts_round(cfg, args.iterations, args.warmup),
            "minimal loop": lambda: minimal_round(args.iterations, args.warmup, int(cfg.seed), int(cfg.log_every)),
        }
        if not minimal:
            del sides["minimal loop"], runs["minimal loop"]
        if args.with_compiled:
            runs["ganbench compiled"] = []
            sides["ganbench compiled"] = lambda: framework_round(
                cfg, args.iterations, args.warmup, args.progress_bar, compiled=True
            )
        order = list(sides)
        for r in range(args.rounds):
            for name in order[r % len(order) :] + order[: r % len(order)]:  # rotate who goes first
                runs[name].append(sides[name]())
            print(
                f"[{threads} thread(s)] round {r + 1}: "
                + " | ".join(f"{k} {v[-1]:6.1f} it/s" for k, v in runs.items() if v),
                flush=True,
            )
        fw = runs["ganbench"]
        lines.append(
            f"{threads} thread(s): ganbench {statistics.median(fw):.1f} it/s ({1000 / statistics.median(fw):.2f} ms/it)"
        )
        lines += [summarise(k, fw, v) for k, v in runs.items() if k not in ("ganbench", "ganbench compiled")]
        if args.with_compiled:
            ratios = [c / e for c, e in zip(runs["ganbench compiled"], fw)]
            lines.append(
                f"  compiled: {statistics.median(runs['ganbench compiled']):.1f} it/s; compiled / eager ganbench: "
                f"median {statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f})"
            )
    print(
        f"\n{args.rounds} rounds of {args.iterations - args.warmup} timed iterations each; torch {torch.__version__}, "
        f"{cfg.accelerator.accelerator}, progress bar {'on' if args.progress_bar else 'off'}, "
        f"overrides={args.overrides or 'none'}"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
