"""Under DDP every rank draws its own latents and its own real samples: two gloo processes record
what they drew in the first iterations, and the ranks must differ (a test that fails when the
per-rank re-seeding in ``GANModule.on_train_start`` is removed)."""

from __future__ import annotations

import torch

from helpers import run_ddp

RECORDING_RUN = """
import sys
from pathlib import Path

import torch

from ganbench.config import compose
from ganbench.experiment import build

out = Path(sys.argv[1])
cfg = compose(["accelerator=ddp_cpu", "iterations=3", "eval.every=null", "checkpoint.every=null",
               "batch_size=32", "trainer.enable_progress_bar=false"])
exp = build(cfg, out / "run")
module, drawn = exp.module, {"latents": [], "real": []}
sample_latent, mixture_sample = module.sample_latent, module.real_sampler.mixture.sample


def recording_latent(n, generator=None):
    z = sample_latent(n, generator)
    if generator is None:
        drawn["latents"].append(z.detach().clone())
    return z


def recording_real(n, generator=None):
    x = mixture_sample(n, generator)
    drawn["real"].append(x.detach().clone())
    return x


module.sample_latent, module.real_sampler.mixture.sample = recording_latent, recording_real
exp.trainer.fit(module, datamodule=exp.datamodule)
torch.save(drawn, out / f"rank{exp.trainer.global_rank}.pt")
"""


def test_ranks_draw_different_latents_and_real_batches(tmp_path):
    script = tmp_path / "record.py"
    script.write_text(RECORDING_RUN)
    run_ddp([str(tmp_path)], cwd=tmp_path, script=script)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert len(r0["latents"]) == len(r1["latents"]) == 6  # 3 iterations × (1 D update + 1 G update)
    assert len(r0["real"]) == len(r1["real"]) == 3
    for kind in ("latents", "real"):
        for a, b in zip(r0[kind], r1[kind]):
            assert a.shape == b.shape
            assert not torch.allclose(a, b), f"both ranks drew the same {kind}"
    # and each rank's stream moves on: no batch repeats within a rank
    assert not torch.allclose(r0["real"][0], r0["real"][1])
