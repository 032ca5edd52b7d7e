"""Open a finished (or interrupted) run: its config, its record and its generator, ready to sample.

>>> from ganbench import load_run
>>> run = load_run("runs/ring/nonsaturating/2026-11-30_07-52-05")
>>> samples = run.sample(1000, seed=0)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

from ganbench.bootstrap import setup
from ganbench.models.latent import generate
from ganbench.rundir import load_checkpoint
from ganbench.summary import RunRecord, load_record

EMA_PREFIX = "generator_ema.module."
GENERATOR_PREFIX = "generator."


@dataclass
class LoadedRun:
    """A run directory's config, record and generator (the EMA generator when the run kept one)."""

    path: Path
    config: DictConfig
    record: RunRecord | None
    generator: nn.Module
    is_ema: bool
    iteration: int

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, chunk: int = 2048) -> Tensor:
        """``n`` samples, drawn with a private generator seeded by ``seed`` (the global RNG is untouched)."""
        device = next(self.generator.parameters()).device
        rng = torch.Generator(device=device)
        if seed is None:
            rng.seed()
        else:
            rng.manual_seed(seed)
        return generate(self.generator, n, rng, device, chunk)


def load_run(
    run_dir: str | Path, checkpoint: str = "last.ckpt", use_ema: bool = True, device: str | torch.device = "cpu"
) -> LoadedRun:
    """The config and generator of ``run_dir`` (from ``checkpoints/<checkpoint>``, loaded with
    ``weights_only=True``), in eval mode on ``device``. Sets up the process first
    (:func:`ganbench.bootstrap.setup`: ganbench's resolvers and warning filters)."""
    setup()
    path = Path(run_dir).expanduser()
    config_path = path / "config.yaml"
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path} not found: {path} is not a ganbench run directory")
    config = OmegaConf.load(config_path)
    state = load_checkpoint(path / "checkpoints" / checkpoint)
    weights = state["state_dict"]
    prefix = EMA_PREFIX if use_ema and any(k.startswith(EMA_PREFIX) for k in weights) else GENERATOR_PREFIX
    generator = instantiate(config.model.generator)
    generator.load_state_dict({k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)})
    generator.to(device).eval().requires_grad_(False)
    try:
        record = load_record(path)
    except (FileNotFoundError, ValueError):
        record = None
    return LoadedRun(path, config, record, generator, prefix == EMA_PREFIX, int(state["ganbench"]["iteration"]))
