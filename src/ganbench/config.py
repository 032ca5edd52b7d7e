"""Where the Hydra configs live, and composing them outside a Hydra app."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

import ganbench.schema  # noqa: F401  (registers the root schema with Hydra's ConfigStore)
from ganbench.slurm import run_dir_name

# hydra.run.dir: the directory given by resume=..., else the default pattern
OmegaConf.register_new_resolver("ganbench_run_dir", lambda resume, default: resume or default, replace=True)
# the last part of a run or sweep directory: the SLURM job id on a cluster (stable across requeues), else the time
OmegaConf.register_new_resolver("ganbench_job_dir", run_dir_name, replace=True)
# an integer product, e.g. a batch of 100 PacGAN packs: ${ganbench_mul:100,${model.discriminator.packing}}
OmegaConf.register_new_resolver("ganbench_mul", lambda a, b: int(a) * int(b), replace=True)


def _objective_dir_name(group: str, *, _root_):
    from ganbench.identity import objective_dir_name

    return objective_dir_name(group, _root_=_root_)


# the directory name of what the loss (or regularizer) group resolves to: see ganbench.identity
OmegaConf.register_new_resolver("ganbench_objective", _objective_dir_name, replace=True)


def ceil_div(total: int, per: int) -> int:
    """⌈total / per⌉: e.g. GAN iterations covering ``total`` discriminator steps at ``per`` = n_critic
    D steps per iteration (``iterations: ${ganbench_ceil_div:78125,${n_critic}}``)."""
    total, per = int(total), int(per)
    if per < 1:
        raise ValueError(f"ganbench_ceil_div: the divisor must be >= 1 (n_critic?), got {per}")
    return -(-total // per)


OmegaConf.register_new_resolver("ganbench_ceil_div", ceil_div, replace=True)


def conf_dir() -> Path:
    """The ``conf/`` directory: inside the installed wheel, or at the top of a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "conf", here.parents[1] / "conf"):
        if (candidate / "train.yaml").is_file():
            return candidate
    raise FileNotFoundError(
        f"ganbench cannot find its configs: neither {here / 'conf'} nor {here.parents[1] / 'conf'} "
        "holds train.yaml. Reinstall ganbench (pip install -e . from a checkout, or the wheel)."
    )


def compose(overrides: list[str] | None = None, config_name: str = "train") -> DictConfig:
    """Compose the training config as ``ganbench-train`` would, with the Hydra node included."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        return hydra_compose(config_name=config_name, overrides=overrides or [], return_hydra_config=True)
