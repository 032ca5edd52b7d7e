"""Every option of every config group composes and instantiates; wrong options fail at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.errors import MissingConfigException
from hydra.utils import instantiate

from ganbench.config import compose
from ganbench.paths import conf_dir

GROUPS = ["dataset", "model", "loss", "regularizer", "optimizer", "accelerator", "trainer", "logger"]


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (conf_dir() / group).glob("*.yaml"))


def test_required_options_exist():
    required = {
        "dataset": {"ring", "grid"},
        "model": {"mlp"},
        "loss": {"minimax", "nonsaturating", "least_squares", "wasserstein", "hinge"},
        "regularizer": {"none", "gp", "r1", "clip"},
        "accelerator": {"cpu", "gpu"},
        "logger": {"csv", "tensorboard"},
    }
    for group, names in required.items():
        assert names <= set(options(group)), group


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g)])
def test_every_option_composes(group, option):
    # image models take their shape from an image dataset (${dataset.channels}, ${dataset.resolution})
    image_model = group == "model" and option in ("dcgan", "resnet", "infogan")
    cfg = compose([f"{group}={option}", *(["dataset=digits"] if image_model else [])])
    assert cfg.hydra.runtime.choices[group] == option
    node = cfg[group]
    if (group, option) == ("dataset", "folder"):  # dataset.root has no default: it must be given
        with pytest.raises(Exception, match="dataset.root"):
            instantiate(node)
        assert instantiate(compose(["dataset=folder", "dataset.root=/some/images"]).dataset) is not None
    elif group in ("loss", "regularizer", "dataset"):
        assert instantiate(node) is not None
    elif group == "model":
        from ganbench.models import build_discriminator  # honours model.discriminator.packing

        assert instantiate(node.generator) is not None and build_discriminator(node.discriminator) is not None
    elif group == "optimizer":
        import torch

        opt = instantiate(node.generator)([torch.nn.Parameter(torch.zeros(1))])
        assert isinstance(opt, torch.optim.Optimizer)
    elif group == "logger":
        assert "csv" in node  # metrics.csv is always written


def test_defaults():
    cfg = compose()
    choices = cfg.hydra.runtime.choices
    assert (choices.dataset, choices.loss, choices.regularizer, choices.model) == (
        "ring",
        "nonsaturating",
        "none",
        "mlp",
    )
    assert isinstance(cfg.seed, int) and isinstance(cfg.iterations, int)


def test_wrong_option_lists_the_available_ones():
    with pytest.raises(MissingConfigException) as err:
        compose(["loss=hinj"])
    msg = str(err.value)
    for name in ("hinge", "minimax", "nonsaturating", "least_squares", "wasserstein"):
        assert name in msg


def test_cli_wrong_option_fails_before_training(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "ganbench.train", "loss=hinj", f"hydra.run.dir={tmp_path / 'run'}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 2
    options = sorted(p.stem for p in (Path(__file__).parents[1] / "conf" / "loss").glob("*.yaml"))
    assert proc.stderr == (
        f"ganbench: loss=hinj: conf/loss/ has no hinj.yaml; did you mean loss=hinge? options: {', '.join(options)}\n"
    )
    assert not (tmp_path / "run").exists()
