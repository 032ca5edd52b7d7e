"""Which DDP wrapping is faster for a GAN: one wrapper with unused-parameter search, or G and D wrapped separately?

With manual optimisation, Lightning wraps the whole LightningModule (G and D together) in one
``DistributedDataParallel``. Each backward then leaves one player without gradients (the D step does
not reach G; the G step does not update D), so DDP must search the autograd graph for unused
parameters after every backward: ``strategy=ddp_find_unused_parameters_true``, what ganbench's DDP
configs use. The alternative wraps G and D in their own DDP (no search) and runs the G step through
D's unwrapped module, so D's reducer never waits for gradients it will not get.

This script times both on the same work, hand-written, in ``--world-size`` processes with the gloo
backend (CPU) or NCCL (``--device cuda``, one GPU per process), alternating rounds:

    python benchmarks/ddp_strategies.py --iterations 600 --rounds 3
    python benchmarks/ddp_strategies.py --device cuda --world-size 2 --hidden 512

It prints iterations per second for each and the ratio (separate / single wrapper).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from ganbench.data.toy import ring_centers
from ganbench.losses import NonSaturatingLoss
from ganbench.models import MLPDiscriminator, MLPGenerator


class Pair(torch.nn.Module):
    """G and D in one module, as a LightningModule holds them."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.generator = MLPGenerator(data_dim=2, latent_dim=2, hidden_dim=hidden, num_layers=3)
        self.discriminator = MLPDiscriminator(data_dim=2, hidden_dim=hidden, num_layers=3)

    def forward(self, mode: str, x: torch.Tensor) -> torch.Tensor:
        if mode == "d":
            return self.discriminator(x)
        if mode == "g":
            return self.generator(x)
        return self.discriminator(self.generator(x))  # "gd": the generator step


def _real(batch: int, centers: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    idx = torch.randint(len(centers), (batch,), generator=rng, device=centers.device)
    return centers[idx] + 0.01 * torch.randn(batch, 2, generator=rng, device=centers.device)


def run_round(kind: str, pair: Pair, args: argparse.Namespace, device: torch.device) -> float:
    rank = dist.get_rank()
    loss = NonSaturatingLoss()
    centers = ring_centers(8).to(device)
    rng = torch.Generator(device=device).manual_seed(1000 + rank)
    g_params, d_params = list(pair.generator.parameters()), list(pair.discriminator.parameters())
    g_opt = torch.optim.Adam(g_params, lr=1e-4, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(d_params, lr=1e-4, betas=(0.5, 0.999))
    ids = [device.index] if device.type == "cuda" else None
    if kind == "single":
        wrapped = DistributedDataParallel(pair, device_ids=ids, find_unused_parameters=True)
        G = lambda z: wrapped("g", z)  # noqa: E731
        D = lambda x: wrapped("d", x)  # noqa: E731
        GD = lambda z: wrapped("gd", z)  # noqa: E731
    else:
        g_ddp = DistributedDataParallel(pair.generator, device_ids=ids)
        d_ddp = DistributedDataParallel(pair.discriminator, device_ids=ids)
        G, D = g_ddp, d_ddp
        GD = lambda z: pair.discriminator(g_ddp(z))  # noqa: E731  (D unwrapped: its reducer is not involved)
    B = args.batch_size
    for it in range(args.iterations):
        if it == args.warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            dist.barrier()
            start = time.perf_counter()
        for p in g_params:
            p.requires_grad_(False)
        with torch.no_grad():
            fake = G(torch.randn(B, 2, generator=rng, device=device))
        out = D(torch.cat([_real(B, centers, rng), fake]))
        d_loss = loss.discriminator_loss(out[:B], out[B:])
        d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        d_opt.step()
        for p in g_params:
            p.requires_grad_(True)
        for p in d_params:
            p.requires_grad_(False)
        g_loss = loss.generator_loss(GD(torch.randn(B, 2, generator=rng, device=device)))
        g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        g_opt.step()
        for p in d_params:
            p.requires_grad_(True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    dist.barrier()
    return (args.iterations - args.warmup) / (time.perf_counter() - start)


def worker(rank: int, args: argparse.Namespace, port: int, results) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(args.threads)
    backend = "nccl" if args.device == "cuda" else "gloo"
    dist.init_process_group(backend, rank=rank, world_size=args.world_size)
    device = torch.device("cuda", rank) if args.device == "cuda" else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    torch.manual_seed(0)
    base = Pair(args.hidden).to(device)
    times: dict[str, list[float]] = {"single": [], "separate": []}
    for _ in range(args.rounds):
        for kind in ("single", "separate"):
            pair = Pair(args.hidden).to(device)
            pair.load_state_dict(base.state_dict())
            times[kind].append(run_round(kind, pair, args, device))
    if rank == 0:
        results.update({k: list(v) for k, v in times.items()})
    dist.destroy_process_group()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--world-size", type=int, default=2)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--iterations", type=int, default=600)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    args = p.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(worker, args=(args, port, results), nprocs=args.world_size, join=True)
        times = dict(results)
    for r, (a, b) in enumerate(zip(times["single"], times["separate"]), 1):
        print(f"round {r}: single wrapper + unused search {a:7.1f} it/s | separate wrappers {b:7.1f} it/s")
    ratios = [b / a for a, b in zip(times["single"], times["separate"])]
    print(
        f"\nmedian: single {statistics.median(times['single']):.1f} it/s, separate "
        f"{statistics.median(times['separate']):.1f} it/s, ratio separate/single {statistics.median(ratios):.3f} "
        f"(min {min(ratios):.3f}, max {max(ratios):.3f}); {args.world_size} x {args.device}, hidden {args.hidden}, "
        f"batch {args.batch_size}, torch {torch.__version__}"
    )


if __name__ == "__main__":
    main()
