"""FLOPs of the CIFAR-10 presets, counted on CPU, and the GPU-hours they imply.

For each preset this counts, with torch's FLOP formulas (``torch.utils.flop_counter``), the floating-point
operations of one GAN iteration exactly as ``GANModule.training_step`` performs it (per D step: G
forward without gradients, D forward and backward on the real and the fake minibatch, plus the
penalty's double backward where there is one; then G forward and backward through D), and of one
Inception-v3 feature extraction (32×32 → 299×299, torchmetrics' FID network with random weights:
the FLOPs do not depend on the weights). Hours are FLOPs divided by an *assumed* sustained
throughput: they are estimates, not measurements.

    python benchmarks/preset_flops.py                 # markdown table
    python benchmarks/preset_flops.py --tflops 10 30  # other assumed sustained TFLOP/s
"""

from __future__ import annotations

import argparse
import tempfile

import torch
from hydra.utils import instantiate
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from ganbench.config import compose
from ganbench.models.packing import build_discriminator

PRESETS = {
    "cifar10_sngan": ["+experiment=cifar10_sngan"],
    "cifar10_lucic (lucic_ns)": ["+experiment=cifar10_lucic"],
    "cifar10_lucic (lucic_wgan_gp)": ["+experiment=cifar10_lucic", "variant=lucic_wgan_gp"],
    "cifar10_dcgan": ["+experiment=cifar10_dcgan"],
}


class _Flops(TorchDispatchMode):
    """Adds up torch's own FLOP formulas (``flop_registry``: matmuls, convolutions and their
    backward) for every op dispatched. Unlike ``FlopCounterMode`` it installs no module hooks, so
    the double backward of a gradient penalty can run under it."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += formula(*args, **kwargs, out_val=out)
        return out


def count(fn) -> int:
    with _Flops() as counter:
        fn()
    return int(counter.total)


def iteration_flops(cfg) -> int:
    """FLOPs of one GAN iteration at the preset's per-process batch on one process."""
    torch.manual_seed(0)
    g, d = instantiate(cfg.model.generator), build_discriminator(cfg.model.discriminator)
    loss, regularizer = instantiate(cfg.loss), instantiate(cfg.regularizer)
    n = int(cfg.batch_size)
    shape = (n, *g.data_shape)

    def step():
        for _ in range(int(cfg.n_critic)):
            with torch.no_grad():
                fake = g(torch.randn(n, g.latent_dim))
            real = torch.rand(shape) * 2 - 1
            d_loss = loss.discriminator_loss(d(real), d(fake)) + regularizer.penalty(d, real, fake)
            d_loss.backward()
        d.requires_grad_(False)
        loss.generator_loss(d(g(torch.randn(n, g.latent_dim)))).backward()
        d.requires_grad_(True)

    return count(step)


def inception_flops_per_image() -> int:
    from ganbench.evaluation.features import InceptionExtractor, save_random_inception_weights

    with tempfile.TemporaryDirectory() as tmp:
        extractor = InceptionExtractor(str(save_random_inception_weights(f"{tmp}/w.pth")))
        images = torch.rand(2, 3, 32, 32) * 2 - 1
        return count(lambda: extractor(images)) // 2


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tflops", type=float, nargs="+", default=[10.0, 30.0], help="assumed sustained TFLOP/s")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    per_image = inception_flops_per_image()
    print(f"Inception-v3 feature extraction: {per_image / 1e9:.2f} GFLOP per image\n")
    rates = " | ".join(f"GPU-h at {t:g} TFLOP/s" for t in args.tflops)
    print(f"| preset | GFLOP / iteration | iterations | training PFLOP | evaluation PFLOP | {rates} |")
    print("|---|---|---|---|---|" + "---|" * len(args.tflops))
    for name, overrides in PRESETS.items():
        cfg = compose(overrides)
        per_it = iteration_flops(cfg)
        train = per_it * int(cfg.iterations)
        evals = -(-int(cfg.iterations) // int(cfg.eval.every)) if cfg.eval.every else 1
        evaluate = evals * int(cfg.eval.repeats) * int(cfg.evaluator.num_samples) * per_image
        evaluate += int(cfg.evaluator.num_real or 0) * per_image  # real statistics, once (then cached)
        hours = " | ".join(f"{(train + evaluate) / (t * 1e12) / 3600:.2f}" for t in args.tflops)
        print(f"| {name} | {per_it / 1e9:.1f} | {int(cfg.iterations):,} | {train / 1e15:.1f} | "
              f"{evaluate / 1e15:.2f} | {hours} |")  # fmt: skip


if __name__ == "__main__":
    main()
