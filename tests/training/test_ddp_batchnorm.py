"""Two CPU processes (gloo DDP), DCGAN with BatchNorm in G and D, batch_size_is=global: at every
evaluation and checkpoint the ranks hold identical buffers (rank 0's), although their BatchNorm
statistics had drifted apart during training; each process draws batch_size / 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from helpers import run_ddp

PROBE = r"""
import sys
from pathlib import Path

import torch

import ganbench.training.callbacks as cb
from ganbench.config import compose
from ganbench.experiment import run

out, run_dir = Path(sys.argv[1]), Path(sys.argv[2])
calls = {"n": 0}
original = cb.broadcast_buffers


def rank():
    import torch.distributed as dist

    return dist.get_rank() if dist.is_initialized() else 0


def dump(module, tag):
    state = {k: v.detach().clone() for k, v in module.named_buffers()}
    torch.save(state, out / f"{tag}_rank{rank()}.pt")


def probed(module, src=0):
    calls["n"] += 1
    dump(module, f"call{calls['n']:02d}_before")
    original(module, src)
    dump(module, f"call{calls['n']:02d}_after")


cb.broadcast_buffers = probed
gathered = cb.EvaluationCallback.gathered_samples


def sampling(self, trainer, pl_module, repeat=0):
    dump(pl_module, f"eval{pl_module.iteration:02d}")
    torch.save({"module": pl_module.batch_size, "data": trainer.datamodule.batch_size},
               out / f"batch_rank{rank()}.pt")
    return gathered(self, trainer, pl_module, repeat)


cb.EvaluationCallback.gathered_samples = sampling
cfg = compose(["accelerator=ddp_cpu", "+experiment=digits", "dataset.resolution=8", "model.generator.width=8",
               "model.discriminator.width=8", "batch_size=16", "batch_size_is=global", "iterations=6",
               "eval.every=3", "evaluator.num_samples=64", "checkpoint.every=3", "log_every=3",
               "trainer.enable_progress_bar=false", f"hydra.run.dir={run_dir}"])
run(cfg, run_dir)
"""


@pytest.fixture(scope="module")
def probe_run(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("ddp_bn")
    out = work / "buffers"
    out.mkdir()
    script = work / "probe.py"
    script.write_text(PROBE)
    run_ddp([str(out), str(work / "run")], cwd=work, script=script)
    return out


def load(out: Path, tag: str, rank: int) -> dict[str, torch.Tensor]:
    return torch.load(out / f"{tag}_rank{rank}.pt", weights_only=True)


def differing(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> list[str]:
    assert a.keys() == b.keys()
    return [k for k in a if not torch.equal(a[k], b[k])]


def test_ranks_hold_identical_buffers_at_every_evaluation(probe_run):
    evals = sorted({p.name.split("_")[0] for p in probe_run.glob("eval*_rank0.pt")})
    assert evals == ["eval03", "eval06"]
    for tag in evals:
        r0, r1 = load(probe_run, tag, 0), load(probe_run, tag, 1)
        assert any("running_mean" in k for k in r0) and any(k.startswith("generator.") for k in r0)
        assert differing(r0, r1) == [], tag


def test_broadcast_fixes_statistics_that_had_drifted(probe_run):
    calls = sorted({p.name.rsplit("_", 2)[0] for p in probe_run.glob("call*_before_rank0.pt")})
    assert len(calls) >= 4  # 2 evaluations + checkpoints at 3 and 6 (+ the final save)
    drifted = []
    for call in calls:
        before = differing(load(probe_run, f"{call}_before", 0), load(probe_run, f"{call}_before", 1))
        after = differing(load(probe_run, f"{call}_after", 0), load(probe_run, f"{call}_after", 1))
        assert after == [], call
        # rank 0 keeps its own statistics: it is the source
        assert differing(load(probe_run, f"{call}_before", 0), load(probe_run, f"{call}_after", 0)) == []
        drifted += before
    # without the broadcast the ranks' BatchNorm statistics differ (this is what the broadcast fixes)
    assert any("running_mean" in k or "running_var" in k for k in drifted)


def test_global_batch_is_split_over_the_processes(probe_run):
    for rank in (0, 1):
        assert torch.load(probe_run / f"batch_rank{rank}.pt") == {"module": 8, "data": 8}
