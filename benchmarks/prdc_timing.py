"""Time precision/recall/density/coverage (ganbench.evaluation.prdc) for N real vs N generated
features, at the Inception pool dimension (2048) and the toys' (2), on this machine's CPU.

    OMP_NUM_THREADS=1 python benchmarks/prdc_timing.py [--n 10000] [--threads 1]

Reports the time from scratch (the k-NN radii of both sets plus the real × generated pass) and the
time of one evaluation when the real radii are cached (what the evaluators do after the first
evaluation), and the peak resident memory of the process.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import torch

from ganbench.evaluation.prdc import PRDC, prdc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--dims", default="2,2048")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--chunk", type=int, default=1024)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"# {args.n} real vs {args.n} generated, torch {torch.__version__}, {args.threads} thread(s), "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
    )
    print("| dim | from scratch (s) | cached real radii (s) | precision | recall | density | coverage |")
    print("|---|---|---|---|---|---|---|")
    for dim in (int(d) for d in args.dims.split(",")):
        g = torch.Generator().manual_seed(0)
        real = torch.randn(args.n, dim, generator=g)
        fake = torch.randn(args.n, dim, generator=g) * 1.1 + 0.05
        start = time.perf_counter()
        m = prdc(real, fake, chunk=args.chunk)
        scratch = time.perf_counter() - start
        metric = PRDC(real, chunk=args.chunk)
        metric(fake)  # computes and caches the real radii
        start = time.perf_counter()
        again = metric(fake)
        cached = time.perf_counter() - start
        assert again == m
        print(
            f"| {dim} | {scratch:.1f} | {cached:.1f} | {m['precision']:.3f} | {m['recall']:.3f} | "
            f"{m['density']:.3f} | {m['coverage']:.3f} |"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of the process: {peak:.0f} MB (a full 10k x 10k float64 matrix alone is 800 MB)")


if __name__ == "__main__":
    main()
