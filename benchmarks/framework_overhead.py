"""Time GANModule training against a hand-written PyTorch loop doing the same work.

Both sides use the same generator, discriminator, loss, optimisers, batch size, EMA and on-device
ring sampling, built from the default config. They run in one process, alternating rounds, and
only steady-state iterations are timed (after ``--warmup`` iterations in each round). The result
is the ratio of iterations per second, framework / plain loop (1.0 = no overhead).

    python benchmarks/framework_overhead.py --iterations 1500 --rounds 5
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback
from omegaconf import OmegaConf

from ganbench.config import compose
from ganbench.experiment import build
from ganbench.models.packing import build_discriminator
from ganbench.training import EMAGenerator

warnings.filterwarnings("ignore")


class SteadyStateTimer(Callback):
    def __init__(self, warmup: int) -> None:
        self.warmup, self.start, self.end, self.count = warmup, None, None, 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == self.warmup:
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.end = time.perf_counter()
        self.count = batch_idx + 1 - self.warmup


def framework_round(cfg, iterations: int, warmup: int, progress_bar: bool) -> float:
    """ganbench as ``ganbench-train`` runs it: ``experiment.build`` (all callbacks: the per-iteration
    divergence check, signal handling, checkpoint bookkeeping, metric logging), minus evaluations
    and checkpoint files, which the plain loop does not do either."""
    cfg = copy.deepcopy(cfg)
    cfg.iterations = iterations
    cfg.eval.every = None
    cfg.checkpoint.every = None
    cfg.trainer.enable_progress_bar = progress_bar
    cfg.trainer.enable_model_summary = False
    timer = SteadyStateTimer(warmup)
    with tempfile.TemporaryDirectory() as tmp:
        exp = build(cfg, Path(tmp))
        exp.trainer.callbacks.insert(0, timer)  # its batch-end runs before the final evaluation
        exp.trainer.fit(exp.module, datamodule=exp.datamodule)
    return timer.count / (timer.end - timer.start)


def plain_round(cfg, iterations: int, warmup: int) -> float:
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iterations", type=int, default=1500)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--progress-bar", action="store_true", help="show the framework's progress bar (as by default)")
    p.add_argument("overrides", nargs="*", help="config overrides, e.g. loss=hinge regularizer=gp accelerator=gpu")
    args = p.parse_args()

    cfg = compose(list(args.overrides))
    cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    fw, plain = [], []
    for r in range(args.rounds):
        fw.append(framework_round(cfg, args.iterations, args.warmup, args.progress_bar))
        plain.append(plain_round(cfg, args.iterations, args.warmup))
        print(
            f"round {r + 1}: ganbench {fw[-1]:7.1f} it/s | plain loop {plain[-1]:7.1f} it/s "
            f"| ratio {fw[-1] / plain[-1]:.3f}",
            flush=True,
        )
    ratios = [a / b for a, b in zip(fw, plain)]
    print(
        f"\nmedian: ganbench {statistics.median(fw):.1f} it/s, plain loop {statistics.median(plain):.1f} it/s, "
        f"ratio {statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}) "
        f"over {args.rounds} rounds of {args.iterations - args.warmup} timed iterations; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{cfg.accelerator.accelerator}, overrides={args.overrides or 'none'}"
    )


if __name__ == "__main__":
    main()
