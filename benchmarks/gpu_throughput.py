"""Image-GAN training throughput of ganbench against a plain PyTorch loop, and the cost of one FID
evaluation, on a GPU (or, with ``--tiny``, a CPU smoke test of the same code).

Cases (each run by ganbench and by the plain loop, one after the other, in one process):

* ``dcgan64``: DCGAN (``conf/model/dcgan.yaml``, ``+experiment=cifar10_dcgan``) on random
  CelebA-shaped images, 3×64×64, batch 64, n_critic 1.
* ``sngan32``: SNGAN ResNet (``conf/model/resnet.yaml``, ``+experiment=cifar10_sngan``: hinge loss,
  spectral norm, n_critic 5, a linear LR decay) on random CIFAR-shaped images, 3×32×32, batch 64.

each in fp32 (``32-true``) and ``bf16-mixed``, eager and compiled (``model.compile=true``). Random
images stand in for the data set: a pool of ``--pool`` minibatches generated once on the device,
so neither side waits for a disk or a decoder. The ganbench side is ``experiment.build`` as
``ganbench-train`` runs it (every callback, the divergence check, metric logging every
``log_every`` iterations, the EMA when the experiment has one) minus evaluations and checkpoint
files; the plain loop does the same updates by hand (same models, losses, optimisers, scheduler,
autocast, n_critic real minibatches per iteration, D frozen during the G update).

Throughput is in **real images per second**: iterations/s × n_critic × batch size. Peak memory is
``torch.cuda.max_memory_allocated`` over the timed run. The ratio ganbench / plain is taken from
runs made side by side.

The evaluation figure is the time of one evaluation of ``--eval-samples`` generated samples as
ganbench does it: sampling the generator, Inception-v3 pool features in batches of
``--eval-batch`` (uint8 conversion, resize to 299×299), then FID and KID against cached real
features. Without ``--inception-weights`` it uses a **randomly initialised** Inception in
torch-fidelity's format (the same architecture and cost; its FIDs mean nothing), and says so.

    python benchmarks/gpu_throughput.py --device cuda --out runs/gpu_throughput.json
    python benchmarks/gpu_throughput.py --device cpu --tiny         # smoke test of every code path
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback
from omegaconf import OmegaConf
from torch.utils.data import DataLoader, Dataset

from ganbench.config import compose
from ganbench.evaluation.contract import Evaluator
from ganbench.experiment import build
from ganbench.models.packing import build_discriminator
from ganbench.rendering import RenderJob

warnings.filterwarnings("ignore")

CASES: dict[str, dict[str, Any]] = {
    "dcgan64": {"overrides": ["+experiment=cifar10_dcgan"], "resolution": 64, "batch_size": 64},
    "sngan32": {"overrides": ["+experiment=cifar10_sngan"], "resolution": 32, "batch_size": 64},
}
TINY = {  # small enough for a CPU test: every code path, seconds per case
    "dcgan64": ["model.generator.width=8", "model.discriminator.width=8", "model.generator.latent_dim=16"],
    "sngan32": ["model.generator.width=16", "model.discriminator.width=16", "model.generator.latent_dim=16"],
}


# ---------------------------------------------------------------------------------------- data
class _Pool(Dataset):
    """``length`` items, item i being minibatch ``i % len(pool)`` of a pool kept on the device."""

    def __init__(self, pool: torch.Tensor, length: int) -> None:
        self.pool, self.length = pool, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.pool[i % self.pool.shape[0]]


class _NoEvaluation(Evaluator):
    """An evaluator with nothing to compute (throughput runs do not evaluate); the ``datamodule``
    the evaluator builder passes is not needed."""

    for_toy_data = False

    def __init__(self, num_samples: int, datamodule: Any = None) -> None:
        self.num_samples = num_samples
        self.directions: dict[str, str | None] = {}

    @classmethod
    def available_metrics(cls, **settings: Any) -> dict[str, str | None]:
        return {}

    def evaluate(self, samples: torch.Tensor) -> dict[str, float]:
        return {}

    def plot_job(self, samples: torch.Tensor, path: Path, title: str = "") -> RenderJob:
        raise RuntimeError("throughput runs draw nothing in the background (eval.every=null)")

    def plot(self, samples: torch.Tensor, path: Path, title: str = "") -> Path:
        return Path(path)  # nothing drawn; only TensorBoard would read it, and no TensorBoard logger is set


class RandomImages(L.LightningDataModule):
    """Random images in [−1, 1], shaped like a data set's, already on the device."""

    samples_on_device = False

    def __init__(
        self, channels: int, resolution: int, batch_size: int, n_critic: int, iterations: int, pool: int, device: str
    ) -> None:
        super().__init__()
        self.channels, self.resolution, self.data_shape = channels, resolution, (channels, resolution, resolution)
        self.batch, self.iterations, self.pool_size, self.device = n_critic * batch_size, iterations, pool, device
        self.pool = make_pool(self.pool_size, self.batch, self.data_shape, device)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(_Pool(self.pool, self.iterations), batch_size=None)


def make_pool(n: int, batch: int, shape: tuple[int, ...], device: str) -> torch.Tensor:
    g = torch.Generator(device=device).manual_seed(0)
    return torch.rand((n, batch, *shape), generator=g, device=device) * 2 - 1


# ---------------------------------------------------------------------------------------- config
def case_config(name: str, precision: str, compiled: bool, device: str, tiny: bool, iterations: int, pool: int):
    spec = CASES[name]
    accelerator = "gpu" if device == "cuda" else "cpu"
    overrides = [
        *spec["overrides"],
        f"accelerator={accelerator}",
        f"accelerator.precision={precision}",
        f"model.compile={str(compiled).lower()}",
        f"batch_size={8 if tiny else spec['batch_size']}",
        f"iterations={iterations}",
        "eval.every=null",
        "checkpoint.every=null",
        "trainer.enable_progress_bar=false",
        "logger=csv",
        *(TINY[name] if tiny else []),
    ]
    cfg = compose(overrides)
    cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    resolution = 16 if tiny else spec["resolution"]
    cfg.dataset = OmegaConf.create(
        {
            "_target_": f"{__name__}.RandomImages",
            "channels": 3,
            "resolution": resolution,
            "batch_size": int(cfg.batch_size),
            "n_critic": int(cfg.n_critic),
            "iterations": iterations,
            "pool": pool,
            "device": device,
        }
    )
    # the one evaluation at the end (after the timed iterations), kept trivial
    cfg.evaluator = OmegaConf.create({"_target_": f"{__name__}._NoEvaluation", "num_samples": 16})
    OmegaConf.resolve(cfg)
    return cfg


# ---------------------------------------------------------------------------------------- timing
def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


class _Timer(Callback):
    """Wall time from the end of iteration ``warmup`` to the end of the run, with one device sync
    at each end (none in between)."""

    def __init__(self, warmup: int, device: str) -> None:
        self.warmup, self.device = warmup, device
        self.start = self.start_iteration = self.end = self.end_iteration = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        it = pl_module.iteration
        if self.start is None and it >= self.warmup:
            _sync(self.device)
            self.start, self.start_iteration = time.perf_counter(), it
        elif self.start is not None and it == pl_module.last_iteration:
            _sync(self.device)
            self.end, self.end_iteration = time.perf_counter(), it

    def iterations_per_second(self) -> float:
        return (self.end_iteration - self.start_iteration) / (self.end - self.start)


def _reset_peak(device: str) -> None:
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_mib(device: str) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None


def ganbench_round(cfg, warmup: int, device: str) -> tuple[float, float | None]:
    """(iterations/s, peak MiB) of ganbench on ``cfg``."""
    _reset_peak(device)
    timer = _Timer(warmup, device)
    with tempfile.TemporaryDirectory() as tmp:
        exp = build(copy.deepcopy(cfg), Path(tmp))
        exp.trainer.callbacks.insert(0, timer)
        exp.trainer.fit(exp.module, datamodule=exp.datamodule)
    return timer.iterations_per_second(), _peak_mib(device)


def plain_round(cfg, warmup: int, device: str) -> tuple[float, float | None]:
    """(iterations/s, peak MiB) of a hand-written loop doing ganbench's updates on ``cfg``."""
    _reset_peak(device)
    dev = torch.device(device)
    L.seed_everything(int(cfg.seed), verbose=False)
    g, d = instantiate(cfg.model.generator).to(dev), build_discriminator(cfg.model.discriminator).to(dev)
    ema = None
    if cfg.ema.decay:
        ema = copy.deepcopy(g).requires_grad_(False)
        ema_params, g_params = list(ema.parameters()), list(g.parameters())
    if cfg.model.get("compile"):
        g.compile()
        d.compile()
    loss = instantiate(cfg.loss)
    g_opt = instantiate(cfg.optimizer.generator)(g.parameters())
    d_opt = instantiate(cfg.optimizer.discriminator)(d.parameters())
    schedulers = (
        [instantiate(cfg.optimizer.scheduler)(o) for o in (d_opt, g_opt)] if cfg.optimizer.get("scheduler") else []
    )
    B, n_critic, latent = int(cfg.batch_size), int(cfg.n_critic), int(g.latent_dim)
    pool = make_pool(int(cfg.dataset.pool), n_critic * B, (3, cfg.dataset.resolution, cfg.dataset.resolution), device)
    precision = str(cfg.accelerator.precision)
    autocast = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=precision == "bf16-mixed")
    iterations = int(cfg.iterations)
    for it in range(1, iterations + 1):
        if it == warmup + 1:
            _sync(device)
            start = time.perf_counter()
        reals = pool[(it - 1) % pool.shape[0]].chunk(n_critic)
        for real in reals:
            with autocast:
                with torch.no_grad():
                    fake = g(torch.randn(B, latent, device=dev))
                d_loss = loss.discriminator_loss(d(real), d(fake))
            d_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            d_opt.step()
        d.requires_grad_(False)
        with autocast:
            g_loss = loss.generator_loss(d(g(torch.randn(B, latent, device=dev))))
        g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        g_opt.step()
        d.requires_grad_(True)
        for s in schedulers:
            s.step()
        if ema is not None:
            with torch.no_grad():
                torch._foreach_lerp_(ema_params, g_params, 1.0 - float(cfg.ema.decay))
        if it % int(cfg.log_every) == 0:
            _ = (d_loss.item(), g_loss.item())
    _sync(device)
    return (iterations - warmup) / (time.perf_counter() - start), _peak_mib(device)


# ---------------------------------------------------------------------------------------- evaluation
def evaluation_seconds(
    device: str, num_samples: int, batch_size: int, weights: str | None, tiny: bool
) -> dict[str, Any]:
    """Time one FID/KID evaluation of ``num_samples`` DCGAN samples (see the module docstring)."""
    from ganbench.evaluation.features import InceptionExtractor, save_random_inception_weights
    from ganbench.evaluation.fid import FeatureDistance

    dev = torch.device(device)
    random_weights = weights is None
    with tempfile.TemporaryDirectory() as tmp:
        if random_weights:
            weights = str(save_random_inception_weights(Path(tmp) / "inception.pth"))
        extractor = InceptionExtractor(weights)
    cfg = case_config("dcgan64", "32-true", False, device, tiny, 1, 1)
    g = instantiate(cfg.model.generator).to(dev).eval()
    real = torch.randn(max(num_samples, 2), 2048, generator=torch.Generator().manual_seed(0))
    distance = FeatureDistance(real, kid=True, kid_subsets=100, kid_subset_size=1000)
    extractor(torch.zeros(2, 3, 64, 64, device=dev))  # weights on the device, kernels warmed
    distance(torch.randn(4, 2048, device=dev))  # real statistics on the device (cached in a real run)
    _sync(device)
    start = time.perf_counter()
    with torch.inference_mode():
        feats = []
        rng = torch.Generator(device=dev).manual_seed(1234)
        for i in range(0, num_samples, batch_size):
            n = min(batch_size, num_samples - i)
            images = g(torch.randn(n, g.latent_dim, device=dev, generator=rng))
            feats.append(extractor(images)[0])
        features = torch.cat(feats)
    _sync(device)
    extracted = time.perf_counter()
    metrics = distance(features)
    _sync(device)
    end = time.perf_counter()
    seconds, per_sample, fixed = end - start, (extracted - start) / num_samples, end - extracted
    return {
        "samples": num_samples,
        "batch_size": batch_size,
        "resolution": int(cfg.dataset.resolution),
        "seconds": round(seconds, 3),
        "seconds_per_1000": round(1000 * seconds / num_samples, 3),
        "sampling_and_features_seconds_per_1000": round(1000 * per_sample, 3),
        "fid_kid_seconds": round(fixed, 3),
        # sampling and features scale with the sample count; FID/KID against 10k real features is
        # nearly fixed (its fake-side covariance grows with the count): a lower bound when extrapolated
        "estimated_seconds_for_10000": round(10000 * per_sample + fixed, 1),
        "inception": "random weights (torch-fidelity format; timing only)" if random_weights else weights,
        "fid_is_finite": math.isfinite(metrics["fid"]),
    }


# ---------------------------------------------------------------------------------------- main
def run_case(name: str, precision: str, compiled: bool, args) -> dict[str, Any]:
    cfg = case_config(name, precision, compiled, args.device, args.tiny, args.iterations, args.pool)
    per_image = int(cfg.n_critic) * int(cfg.batch_size)
    fw, plain, mem_fw, mem_plain = [], [], [], []
    for _ in range(args.rounds):
        ips, mem = ganbench_round(cfg, args.warmup, args.device)
        fw.append(ips)
        mem_fw.append(mem)
        ips, mem = plain_round(cfg, args.warmup, args.device)
        plain.append(ips)
        mem_plain.append(mem)
    ratios = [a / b for a, b in zip(fw, plain)]
    return {
        "case": name,
        "precision": precision,
        "compile": compiled,
        "batch_size": int(cfg.batch_size),
        "n_critic": int(cfg.n_critic),
        "resolution": int(cfg.dataset.resolution),
        "ganbench_images_per_s": round(statistics.median(fw) * per_image, 1),
        "plain_images_per_s": round(statistics.median(plain) * per_image, 1),
        "ratio": round(statistics.median(ratios), 3),
        "ratio_min": round(min(ratios), 3),
        "ratio_max": round(max(ratios), 3),
        "ganbench_peak_mib": None if mem_fw[0] is None else round(max(mem_fw), 1),
        "plain_peak_mib": None if mem_plain[0] is None else round(max(mem_plain), 1),
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| case | precision | compile | ganbench img/s | plain img/s | ratio (min–max) | peak MiB ganbench / plain |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        mem = "–" if r["ganbench_peak_mib"] is None else f"{r['ganbench_peak_mib']:.0f} / {r['plain_peak_mib']:.0f}"
        lines.append(
            f"| {r['case']} | {r['precision']} | {'yes' if r['compile'] else 'no'} | {r['ganbench_images_per_s']:.0f} "
            f"| {r['plain_images_per_s']:.0f} | {r['ratio']:.3f} ({r['ratio_min']:.3f}–{r['ratio_max']:.3f}) | {mem} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    p.add_argument("--tiny", action="store_true", help="tiny models, batch 8, 16×16 images: a smoke test")
    p.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    p.add_argument("--precisions", nargs="+", default=["32-true", "bf16-mixed"])
    p.add_argument("--compile", nargs="+", choices=["off", "on"], default=["off", "on"])
    p.add_argument("--iterations", type=int, default=120, help="iterations per run (warmup included)")
    p.add_argument("--warmup", type=int, default=40, help="untimed iterations per run (compilation happens here)")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--pool", type=int, default=8, help="random minibatches kept on the device")
    p.add_argument("--eval-samples", type=int, default=10000, help="0 skips the evaluation timing")
    p.add_argument("--eval-batch", type=int, default=250)
    p.add_argument("--inception-weights", default=None, help="torch-fidelity Inception weights (default: random)")
    p.add_argument("--budget", type=float, default=None, help="seconds: skip the cases that would start after it")
    p.add_argument("--eval-only", action="store_true", help="only the evaluation timing (no training cases)")
    p.add_argument("--out", default=None, help="write the results as JSON here")
    args = p.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda but no CUDA GPU is visible; use --device cpu --tiny for a smoke test")
    if args.warmup >= args.iterations:
        p.error(f"--warmup ({args.warmup}) must be below --iterations ({args.iterations})")

    began = time.perf_counter()
    rows, skipped = [], []
    for name in [] if args.eval_only else args.cases:
        for precision in args.precisions:
            for compiled in (c == "on" for c in args.compile):
                label = f"{name} {precision} compile={'on' if compiled else 'off'}"
                if args.budget is not None and time.perf_counter() - began > args.budget:
                    skipped.append(label)
                    continue
                rows.append(run_case(name, precision, compiled, args))
                print(f"{label}: {json.dumps(rows[-1])}", flush=True)
    result: dict[str, Any] = {
        "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
        "torch": torch.__version__,
        "tiny": args.tiny,
        "throughput": rows,
        "skipped": skipped,
    }
    if args.eval_samples:
        result["evaluation"] = evaluation_seconds(
            args.device, args.eval_samples, args.eval_batch, args.inception_weights, args.tiny
        )
        print(f"evaluation: {json.dumps(result['evaluation'])}", flush=True)
    print(f"\n{result['device']}, torch {result['torch']}{' (tiny smoke test)' if args.tiny else ''}")
    print(table(rows))
    if skipped:
        print(f"skipped (time budget): {', '.join(skipped)}")
    if "evaluation" in result:
        e = result["evaluation"]
        print(
            f"one evaluation of {e['samples']} samples ({e['resolution']}×{e['resolution']} DCGAN, Inception batch "
            f"{e['batch_size']}, {e['inception']}): {e['seconds']:.1f} s = "
            f"{e['sampling_and_features_seconds_per_1000']:.1f} s per 1,000 samples (sampling + Inception) + "
            f"{e['fid_kid_seconds']:.1f} s FID/KID; 10,000 samples: ~{e['estimated_seconds_for_10000']:.0f} s"
        )
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
