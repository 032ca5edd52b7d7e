"""Which run a command continues: ``resume=<run dir>`` (the saved run's config, extended only by
``iterations=N``), or a run directory that already holds a checkpoint of the same config (a
requeued SLURM job), and what is refused (a different config, an older ganbench's run, a
``_target_`` that is not ganbench's own and not confirmed)."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ganbench.config import override_key as _override_key
from ganbench.config import resolved
from ganbench.errors import ConfigError, one_line
from ganbench.rundir import override_argument, resume_command
from ganbench.summary import load_record
from ganbench.trusted_targets import untrusted_targets


def resolve_resume(cfg: DictConfig, run_dir: Path, overrides: Sequence[str] = ()) -> tuple[DictConfig, Path]:
    """The config and directory of the run to execute.

    With ``resume=<run dir>`` they are the saved run's: the only override allowed beside it is
    ``iterations=N``, which extends the run to N iterations in all (any other would be silently
    ignored, so it is refused), and ``<key>._target_=<value>`` confirming a ``_target_`` of the saved
    config that is not ganbench's own (see :mod:`ganbench.trusted_targets`). A run stopped during
    start-up, before its first checkpoint, starts again from the beginning. Without ``resume``,
    ``cfg`` and ``run_dir`` as given.
    """
    if not cfg.get("resume"):
        return cfg, Path(run_dir)
    run_dir = Path(str(cfg.resume)).expanduser().absolute()
    confirmed = {_override_key(o)[: -len("._target_")]: o.split("=", 1)[1] for o in overrides if _is_target(o)}
    ignored = [o for o in overrides if _override_key(o) not in ("resume", "iterations") and not _is_target(o)]
    if ignored:
        raise ConfigError(
            f"resume= continues a run with its saved config, so {' '.join(ignored)} would be ignored; "
            "drop them (iterations=N is the one setting that may change: it extends the run), "
            "or start a new run without resume="
        )
    if not run_dir.is_dir():
        what = "is a file, not a run directory" if run_dir.exists() else "does not exist"
        raise ConfigError(f"resume={run_dir}: {what}; give the directory of a ganbench run (it holds config.yaml)")
    last = run_dir / "checkpoints" / "last.ckpt"
    if not last.is_file() and not _stopped_during_start_up(run_dir):
        raise ConfigError(
            f"resume={cfg.resume}: there is no {last} to resume from; give the directory of a run that saved "
            "at least one checkpoint (every checkpoint.every iterations)"
        )
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"resume={cfg.resume}: {run_dir / 'config.yaml'} not found; is it a ganbench run directory?")
    try:
        saved = OmegaConf.load(run_dir / "config.yaml")
        if not isinstance(saved, DictConfig):
            raise ValueError("not a mapping")
        plain = OmegaConf.to_container(saved, resolve=True)
    except Exception as err:
        raise ConfigError(f"resume={run_dir}: {run_dir / 'config.yaml'} cannot be read ({one_line(err)})") from None
    missing = _missing_sections(plain, resolved(cfg))
    if missing:
        raise ConfigError(f"resume={run_dir}: {_older_run(missing)}; start a new run (without resume=)")
    untrusted = untrusted_targets(plain, {f"{k}._target_": v for k, v in confirmed.items()})
    if untrusted:
        named = ", ".join(f"{path}={target}" for path, target in untrusted)
        raise ConfigError(
            f"resume={run_dir}: its config.yaml names {named}, which is not one of ganbench's own; nothing was run. "
            f"If you trust it, confirm it on the command line: {resume_command(run_dir)} "
            + " ".join(shlex.quote(f"{path}={target}") for path, target in untrusted)
        )
    saved.resume = str(run_dir)
    if any(_override_key(o) == "iterations" for o in overrides):
        saved.iterations = int(cfg.iterations)
    return saved, run_dir


def _missing_sections(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """The top-level sections of today's config that a saved ``config.yaml`` lacks."""
    return sorted(set(current) - set(saved) - {"resume"})


def _older_run(missing: list[str]) -> str:
    return f"its config.yaml has no {', '.join(missing)} (written by an older ganbench, which this one cannot resume)"


def _is_target(override: str) -> bool:
    return "=" in override and _override_key(override).endswith("._target_")


def _stopped_during_start_up(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds the record of a run stopped before its first checkpoint."""
    try:
        record = load_record(run_dir)
    except (OSError, ValueError):
        return False
    return record.status == "interrupted" and record.iterations == 0


def checkpoint_to_resume(cfg: DictConfig, run_dir: Path) -> Path | None:
    """The checkpoint this run continues from, if any.

    ``resume=<run dir>`` asks for it explicitly. Without it, a run directory that already holds a
    checkpoint of the *same* config is resumed automatically: that is what makes a requeued SLURM
    job continue instead of starting over. A checkpoint of a different config is refused (before
    anything is written there), never overwritten.
    """
    last = run_dir / "checkpoints" / "last.ckpt"
    if cfg.get("resume"):
        return last if last.is_file() else None  # none: stopped during start-up (see resolve_resume)
    if not last.is_file():
        return None
    saved_path = run_dir / "config.yaml"
    if saved_path.is_file():
        saved = OmegaConf.to_container(OmegaConf.load(saved_path), resolve=True)
        current = resolved(cfg)
        missing = _missing_sections(saved, current)
        if missing:
            raise ConfigError(
                f"{run_dir} holds a checkpoint it cannot continue: {_older_run(missing)}; choose another hydra.run.dir"
            )
        keys = (set(saved) | set(current)) - {"resume"}
        diff = sorted(k for k in keys if saved.get(k) != current.get(k))
        if diff:
            raise ConfigError(
                f"{run_dir} already holds a checkpoint of a different run (config differs in: {', '.join(diff)}); "
                f"choose another hydra.run.dir, or pass {override_argument('resume', str(run_dir))} to continue "
                "that run as it was"
            )
    return last
