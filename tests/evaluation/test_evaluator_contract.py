"""Every evaluator config (conf/evaluator/) names an :class:`~ganbench.evaluation.contract.Evaluator`
that keeps the contract: what it evaluates is what it declares, its plot is a job a torch-free
worker can draw and equals the plot drawn here, and it says how its metrics read when a run ends."""

from __future__ import annotations

import inspect
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra.utils import get_class, instantiate

from ganbench.config import compose
from ganbench.evaluation.builder import build_evaluator
from ganbench.evaluation.contract import Evaluator
from ganbench.experiment import describe
from ganbench.rendering import RenderJob, render
from ganbench.summary import DIRECTIONS

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p.stem for p in (ROOT / "conf" / "evaluator").glob("*.yaml"))
DATASET = {"toy": "ring"}  # the image evaluators measure the digits (bundled: no download)
# Inception's weights cannot be downloaded here: these are built with the domain classifier only.
NEEDS_INCEPTION = {"images", "images_is"}


def _cfg(name: str, *overrides: str):
    return compose([f"dataset={DATASET.get(name, 'digits')}", f"evaluator={name}", *overrides])


def _settings(node) -> dict:
    return {k: v for k, v in node.items() if k != "_target_"}


def test_the_configs_are_the_ones_checked():
    assert CONFIGS == ["domain", "images", "images_is", "toy"]


@pytest.mark.parametrize("name", CONFIGS)
def test_each_config_names_a_complete_evaluator(name):
    cfg = _cfg(name)
    cls = get_class(cfg.evaluator._target_)
    assert issubclass(cls, Evaluator) and not inspect.isabstract(cls)
    assert isinstance(cls.for_toy_data, bool) and cls.for_toy_data == (name == "toy")
    available = cls.available_metrics(**_settings(cfg.evaluator))
    assert available and set(available.values()) <= set(DIRECTIONS)
    line = cls.summary_line({m: 0.5 for m in available}, {})
    assert isinstance(line, str) and line and "\n" not in line


@pytest.mark.parametrize("name", CONFIGS)
def test_each_evaluator_keeps_the_contract_when_it_runs(name, tmp_path):
    overrides = ["evaluator.num_samples=64"]
    if name in NEEDS_INCEPTION:
        overrides += ["evaluator.inception=false", "evaluator.domain=true", "evaluator.inception_score=false"]
    if name != "toy":
        overrides += ["evaluator.num_real=200", "evaluator.grid_size=16"]
    cfg = _cfg(name, *overrides)
    datamodule = instantiate(cfg.dataset)
    evaluator = build_evaluator(cfg.evaluator, datamodule)
    assert isinstance(evaluator, Evaluator) and evaluator.num_samples == 64
    g = torch.Generator().manual_seed(0)
    if evaluator.for_toy_data:
        samples = torch.randn(64, 2, generator=g) * 2
    else:
        samples = torch.rand(64, cfg.dataset.channels, cfg.dataset.resolution, cfg.dataset.resolution, generator=g)
        samples = samples * 2 - 1
    metrics = evaluator.evaluate(samples)
    assert list(metrics) == list(evaluator.directions)
    assert set(evaluator.directions.items()) <= set(
        type(evaluator).available_metrics(**_settings(cfg.evaluator)).items()
    )
    assert all(isinstance(v, (int, float)) for v in metrics.values())
    assert isinstance(evaluator.info(), dict)
    line = type(evaluator).summary_line(metrics, evaluator.info())
    assert isinstance(line, str) and line and "\n" not in line

    job = evaluator.plot_job(samples, tmp_path / "job.png", "a title")
    assert isinstance(job, RenderJob) and job.path == tmp_path / "job.png"
    assert not any(isinstance(v, torch.Tensor) for v in job.kwargs.values())  # numpy and strings only
    pickle.dumps(job)
    module = job.function.partition(":")[0]
    torch_free = f"import sys, {module}; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", torch_free], timeout=120).returncode == 0, f"{module} imports torch"
    render(job)
    drawn_here = evaluator.plot(samples, tmp_path / "here.png", "a title")
    assert drawn_here.read_bytes() == job.path.read_bytes()
    assert drawn_here.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_run_summary_line_is_the_evaluators():
    summary = {"status": "completed", "iterations": 10, "wall_seconds": 1.0, "seed": 0, "run_dir": "r",
               "choices": {"dataset": "ring", "loss": "hinge"}, "info": {"num_modes": 8},
               "metrics": {"modes_captured": 7, "high_quality": 0.5, "reverse_kl": 0.25}}  # fmt: skip
    toy = describe(summary, _cfg("toy")).splitlines()
    assert toy[1] == "  modes captured: 7 of 8 | high-quality samples: 50.0% | reverse KL: 0.250"
    summary["metrics"] = {"domain_fid": 12.3456, "recognised": "nan"}
    assert describe(summary, _cfg("domain")).splitlines()[1] == "  domain_fid=12.35, recognised=nan"
    summary["metrics"] = {"reverse_kl": 0.25}  # a selection without the toy line's metrics
    assert describe(summary, _cfg("toy")).splitlines()[1] == "  reverse_kl=0.25"
    summary["evaluated_at"] = 5  # an interrupted run: its metrics are those of an earlier evaluation
    assert describe(summary, _cfg("toy")).splitlines()[1] == "  reverse_kl=0.25 (evaluation at iteration 5)"
    summary["evaluated_at"] = 10
    assert describe(summary, _cfg("toy")).splitlines()[1] == "  reverse_kl=0.25"


def test_a_class_that_is_not_an_evaluator_is_refused_in_one_line(tmp_path):
    from ganbench.errors import ConfigError
    from ganbench.experiment import build

    cfg = _cfg("toy", "evaluator._target_=collections.OrderedDict")
    with pytest.raises(ConfigError) as err:
        build(cfg, tmp_path)
    assert "collections.OrderedDict is not an evaluator: subclass ganbench.evaluation.contract.Evaluator" in str(
        err.value
    )
    assert "\n" not in str(err.value)
