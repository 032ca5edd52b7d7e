"""Weights & Biases for ganbench runs (``logger=wandb``).

- :func:`wandb_logger` builds Lightning's ``WandbLogger`` from the run's config: the run is named
  ``{loss}-{dataset}-s{seed}``, tagged with the loss, regularizer and dataset, grouped by the
  experiment preset or the sweep, and carries the full resolved config plus the config-group
  choices, so the dashboard can group and filter runs by loss.
- Without an API key it runs offline, with ``mode="offline"`` passed to ``wandb.init``. (Lightning's
  ``offline=True`` sets ``WANDB_MODE`` for the whole process instead, which leaks into every later
  run of a sweep.)
- :class:`WandbImages` (a Lightning callback, added by :func:`image_callbacks` when a W&B logger is
  in use) logs each evaluation's plot (scatter plot or sample grid) as an image, at its iteration.
- :class:`WandbCallback` (a Hydra callback, enabled by ``conf/logger/wandb.yaml``) calls
  ``wandb.finish()`` after every job, since Lightning never does and the next job of a sweep would
  otherwise log into the same run; at the end it prints the ``wandb sync`` command for offline runs.
"""

from __future__ import annotations

import logging
import netrc
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hydra.experimental.callback import Callback
from lightning.pytorch.callbacks import Callback as LightningCallback
from omegaconf import DictConfig, OmegaConf

from ganbench._compat import drop_null_anonymous
from ganbench.config import choices as config_choices
from ganbench.config import resolved, trial_of
from ganbench.identity import objective

log = logging.getLogger("ganbench")

MODES = ("online", "offline", "disabled")
DEFAULT_BASE_URL = "https://api.wandb.ai"


def api_key_available(environ: dict[str, str] | None = None) -> bool:
    """Whether W&B credentials are configured: ``WANDB_API_KEY``, ``WANDB_IDENTITY_TOKEN_FILE`` or a
    ``.netrc`` entry for the W&B host (what ``wandb login`` writes)."""
    environ = os.environ if environ is None else environ
    if environ.get("WANDB_API_KEY") or environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    host = urlsplit(environ.get("WANDB_BASE_URL") or DEFAULT_BASE_URL).netloc
    path = environ.get("NETRC") or str(Path(environ.get("HOME") or Path.home()) / ".netrc")
    try:
        return netrc.netrc(path).authenticators(host) is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def resolve_mode(mode: str | None, environ: dict[str, str] | None = None) -> str | None:
    """The ``mode`` to pass to ``wandb.init``.

    An explicit ``mode`` is checked and used. ``None`` means: leave it to ``WANDB_MODE`` when that is
    set, else ``online`` with an API key and ``offline`` without one.
    """
    environ = os.environ if environ is None else environ
    if mode is not None:
        if mode not in MODES:
            raise ValueError(f"logger.wandb.mode must be one of {MODES} or null (automatic), got {mode!r}")
        if mode == "online" and not environ.get("WANDB_MODE") and not api_key_available(environ):
            raise ValueError(
                "logger.wandb.mode=online but no W&B API key is configured: run `wandb login` or set "
                "WANDB_API_KEY, or use logger.wandb.mode=offline (then `wandb sync` the run later)"
            )
        return mode
    if environ.get("WANDB_MODE"):
        return None
    return "online" if api_key_available(environ) else "offline"


def run_name(choices: dict[str, str], seed: int) -> str:
    """``{loss}-{dataset}-s{seed}``, e.g. ``hinge-ring-s3``."""
    return f"{choices.get('loss', 'loss')}-{choices.get('dataset', 'data')}-s{seed}"


def run_tags(choices: dict[str, str]) -> list[str]:
    """The loss, regularizer and dataset."""
    return [choices[k] for k in ("loss", "regularizer", "dataset") if k in choices]


def _hydra_node(cfg: DictConfig | None) -> DictConfig | None:
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return HydraConfig.get()
    return OmegaConf.select(cfg, "hydra", default=None) if cfg is not None else None


def sweep_group(hydra_node: DictConfig | None) -> str | None:
    """The W&B group: the experiment preset's name (``+experiment=NAME``), else in a sweep the name
    of the sweep directory (``multirun/2026-11-23_11-40-02`` → ``2026-11-23_11-40-02``), else none."""
    if hydra_node is None:
        return None
    experiment = OmegaConf.select(hydra_node, "runtime.choices.experiment", default=None)
    if experiment:
        return str(experiment)
    if str(OmegaConf.select(hydra_node, "mode", default="")).endswith("MULTIRUN"):
        sweep_dir = OmegaConf.select(hydra_node, "sweep.dir", default=None)
        if sweep_dir:
            return Path(str(sweep_dir)).name
    return None


def run_config(cfg: DictConfig, choices: dict[str, str]) -> dict[str, Any]:
    """The run's full resolved config (without Hydra's own node) plus its config-group choices."""
    return {"choices": dict(choices), **resolved(cfg)}


def wandb_logger(
    save_dir: str,
    run_cfg: DictConfig,
    project: str = "ganbench",
    entity: str | None = None,
    group: str | None = None,
    tags: list[str] | None = None,
    job_type: str = "train",
    name: str | None = None,
    mode: str | None = None,
    log_model: bool = False,
    **init_kwargs: Any,
):
    """Lightning's ``WandbLogger`` for one ganbench run; ``None`` fields get the defaults above.

    ``save_dir`` is the run directory (W&B writes its files under ``save_dir/wandb``) and
    ``run_cfg`` the run's composed config; both are passed by ganbench. Other keyword arguments go
    to ``wandb.init``.
    """
    from lightning.pytorch.loggers import WandbLogger

    picked = config_choices(run_cfg)
    ran = objective(run_cfg, picked)
    named = {**picked, **ran}  # tags and names carry the objective as it ran (my_pkg.MyLoss, least_squares(a=-1, c=0))
    resolved_mode = resolve_mode(mode)
    if resolved_mode == "offline" and log_model:
        raise ValueError("logger.wandb.log_model needs an online run (checkpoints cannot be uploaded offline)")
    kwargs: dict[str, Any] = {
        "project": project,
        "entity": entity,
        "group": group if group is not None else sweep_group(_hydra_node(run_cfg)),
        "tags": list(tags) if tags is not None else run_tags(named),
        "job_type": job_type,
        "config": {**run_config(run_cfg, picked), "objective": ran, "trial": trial_of(run_cfg)},
        **init_kwargs,
    }
    if resolved_mode is not None:
        kwargs["mode"] = resolved_mode
    logger = WandbLogger(
        name=name if name is not None else run_name(named, int(run_cfg.seed)),
        save_dir=save_dir,
        log_model=log_model,
        **kwargs,
    )
    return drop_null_anonymous(logger)  # Lightning passes anonymous=None, which wandb warns about on every run


class WandbImages(LightningCallback):
    """Log the plot of every evaluation (``evaluation.last_plot``) to the W&B loggers as the image
    ``samples``, with the iteration as x-axis and the metrics as caption. List it after the
    evaluation callback, so it sees the plot of the same iteration."""

    reads_callback_metrics = False  # see ganbench.training.overhead.callbacks_read_metrics

    KEY = "samples"

    def __init__(self, evaluation: Any) -> None:
        self.evaluation = evaluation
        self._logged: Path | None = None

    def _log(self, trainer: Any) -> None:
        plot = self.evaluation.last_plot
        if plot is None or plot == self._logged or not trainer.is_global_zero:
            return
        import wandb
        from lightning.pytorch.loggers import WandbLogger

        iteration = int(self.evaluation.last_iteration)
        caption = f"iteration {iteration}: " + ", ".join(
            f"{k}={v:.3g}" for k, v in self.evaluation.last_metrics.items() if isinstance(v, (int, float))
        )
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_metrics(
                    {self.KEY: wandb.Image(str(plot), caption=caption), "iteration": iteration}, step=iteration
                )
        self._logged = plot

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        self._log(trainer)

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        self._log(trainer)


def image_callbacks(loggers: list[Any], evaluation: Any) -> list[LightningCallback]:
    """``[WandbImages(evaluation)]`` when one of ``loggers`` is a W&B logger, else ``[]``."""
    from lightning.pytorch.loggers import WandbLogger

    return [WandbImages(evaluation)] if any(isinstance(lg, WandbLogger) for lg in loggers) else []


def finish(exit_code: int | None = None) -> bool:
    """End the active W&B run, if any, so that the next job starts its own. Returns whether one was."""
    import wandb

    if wandb.run is None:
        return False
    wandb.finish(exit_code=exit_code)
    return True


def offline_runs(root: Path) -> list[Path]:
    """Offline W&B run directories under ``root`` (``…/wandb/offline-run-*``), sorted."""
    return sorted(p for p in Path(root).rglob("offline-run-*") if p.is_dir() and p.parent.name == "wandb")


def sync_command(root: Path, runs: list[Path]) -> str:
    """The ``wandb sync`` command uploading ``runs``, with a glob when they are many."""
    root = Path(root)
    if len(runs) <= 3:
        return "wandb sync " + " ".join(str(r) for r in runs)
    depth = {len(r.relative_to(root).parts) for r in runs}
    if len(depth) == 1:
        pattern = "/".join(["*"] * (depth.pop() - 2) + ["wandb", "offline-run-*"])
        return f"wandb sync {root}/{pattern}"
    return "wandb sync " + " ".join(str(r) for r in runs)


class WandbCallback(Callback):
    """Hydra callback: ``wandb.finish()`` after every job, then the ``wandb sync`` hint for offline runs."""

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        from hydra.core.utils import JobStatus

        failed = getattr(job_return, "status", None) == JobStatus.FAILED
        finish(exit_code=1 if failed else None)

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._print_sync(Path(str(config.hydra.runtime.output_dir)))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._print_sync(Path(str(config.hydra.sweep.dir)))

    @staticmethod
    def _print_sync(root: Path) -> None:
        runs = offline_runs(root)
        if runs:
            print(
                f"ganbench: {len(runs)} W&B run(s) saved offline under {root}. Upload them with:\n"
                f"  {sync_command(root, runs)}",
                flush=True,
            )
