"""The benchmark scripts run: the CPU smoke mode of the GPU throughput benchmark, and the minimal
loop of the overhead benchmark does what its docstring says (checked against ganbench's parts)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def test_gpu_throughput_smoke_mode_runs_every_case_on_cpu(tmp_path):
    import gpu_throughput

    out = tmp_path / "result.json"
    argv = ["--device", "cpu", "--tiny", "--compile", "off", "--iterations", "4", "--warmup", "1"]
    result = gpu_throughput.main([*argv, "--eval-samples", "6", "--eval-batch", "4", "--out", str(out)])
    assert json.loads(out.read_text()) == result
    rows = result["throughput"]
    assert [(r["case"], r["precision"]) for r in rows] == [
        ("dcgan64", "32-true"), ("dcgan64", "bf16-mixed"), ("sngan32", "32-true"), ("sngan32", "bf16-mixed"),
    ]  # fmt: skip
    for r in rows:
        assert r["ganbench_images_per_s"] > 0 and r["plain_images_per_s"] > 0 and r["ratio"] > 0
        assert r["n_critic"] == (1 if r["case"] == "dcgan64" else 5)
    e = result["evaluation"]
    assert e["samples"] == 6 and e["inception"].startswith("random weights") and e["fid_is_finite"]


def test_gpu_throughput_refuses_cuda_without_a_gpu():
    import gpu_throughput
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(SystemExit):
        gpu_throughput.main(["--device", "cuda"])


def test_minimal_loop_matches_the_default_experiment():
    """The default config is what the minimal loop hard-codes; a changed setting is recognised."""
    import framework_overhead
    from omegaconf import OmegaConf

    from ganbench.config import compose

    def cfg(*overrides):
        c = compose(list(overrides))
        return OmegaConf.masked_copy(c, [k for k in c if k != "hydra"])

    assert framework_overhead.is_default_toy(cfg())
    for override in ("loss=hinge", "batch_size=128", "model.generator.hidden_dim=64", "ema.decay=0.999"):
        assert not framework_overhead.is_default_toy(cfg(override)), override
    assert framework_overhead.minimal_round(iterations=12, warmup=2) > 0


def test_end_to_end_costs_runs_both_measurements(capsys):
    import end_to_end_costs

    end_to_end_costs.costs(iterations=20, rounds=1)
    end_to_end_costs.overlap(plots=1, iterations=5, rounds=1)
    out = capsys.readouterr().out
    assert "eval.background_plots=true" in out and "eval.background_plots=false" in out
    assert "evaluation (all of it)" in out and "both, plots in a worker process" in out


def test_gpu_figures_in_the_readme_are_the_committed_results():
    """benchmarks/README.md's H200 table is what gpu_throughput.table makes of the committed JSON."""
    import gpu_throughput

    results = ROOT / "benchmarks" / "gpu" / "h200_2026-12-04"
    data = json.loads((results / "gpu_throughput.json").read_text())
    assert data["device"] == "NVIDIA H200" and not data["tiny"]
    readme = (ROOT / "benchmarks" / "README.md").read_text()
    assert gpu_throughput.table(data["throughput"]) in readme
    assert "10 passed" in (results / "gpu_tests.log").read_text()
    e = data["evaluation"]
    assert f"{e['seconds']:.1f} s, of which {e['fid_kid_seconds']:.1f} s FID/KID" in readme


@pytest.mark.slow
def test_the_cifar10_readme_flop_table_is_what_preset_flops_prints(capsys):
    """experiments/cifar10/README.md's FLOP and GPU-hour table, as `python benchmarks/preset_flops.py` prints it."""
    import preset_flops

    preset_flops.main([])
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("|")]
    readme = (ROOT / "experiments" / "cifar10" / "README.md").read_text().splitlines()
    start = readme.index(printed[0])
    assert readme[start : start + len(printed)] == printed
