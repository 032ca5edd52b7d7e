"""Every place where ganbench relies on another package's *private* API, in one module.

Each function here exists because the package offers no public way to do the job (checked against
the installed versions: Lightning 2.6, wandb 0.31, torch-fidelity 0.4). Each docstring says what it
relies on; tests/test_compat.py pins that upstream behaviour, so an upgrade that changes it fails
there, loudly, instead of silently changing a run.

What used to be private and now goes through a public API lives elsewhere: the FID Inception's
pool features and unbiased logits (``ganbench.evaluation.features.InceptionExtractor``, through
``NoTrainInceptionV3.forward`` and its ``fc`` layer, instead of torchmetrics'
``_torch_fidelity_forward``).
"""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

__all__ = [
    "LIGHTNING_PLAIN_ATTRIBUTES",
    "tqdm_train_bar",
    "AppendingExperimentWriter",
    "appending_csv_experiment",
    "drop_null_anonymous",
    "foreach_copy_",
    "foreach_lerp_",
    "foreach_norm",
    "random_inception_v3",
    "step_without_lightning_layers",
]

# torch's multi-tensor ("foreach") kernels: one kernel launch for a whole list of tensors, where a
# Python loop launches one per tensor (the EMA update and the gradient norm, every iteration).
# Underscored in torch 2.x although documented; no public equivalent takes a list.
foreach_copy_ = torch._foreach_copy_
foreach_lerp_ = torch._foreach_lerp_
foreach_norm = torch._foreach_norm

# Attributes Lightning (2.6) writes on a LightningModule around every hook call: plain values, never
# parameters, submodules or buffers, so GANModule.__setattr__ lets them bypass Module.__setattr__.
LIGHTNING_PLAIN_ATTRIBUTES = frozenset({"_current_fx_name"})


def tqdm_train_bar(progress_bar: Any) -> Any | None:
    """The training bar of a ``TQDMProgressBar``, or None before it is made (Lightning 2.6: the
    public ``train_progress_bar`` property raises instead of returning None)."""
    return progress_bar._train_progress_bar


def step_without_lightning_layers(optimizer: Any, closure: Any) -> None:
    """``LightningOptimizer.step()`` minus the strategy and precision layers: the manual loop's step
    counters around the wrapped torch optimizer's ``step(closure)``. Only for a single device and a
    precision plugin that adds nothing (``ganbench.training.direct.plain_optimizer_step`` decides).

    Relies on (Lightning 2.6, ``lightning.pytorch.core.optimizer.LightningOptimizer``):

    - ``step()`` calls ``self._on_before_step()``, then the strategy's ``optimizer_step``, then
      ``self._on_after_step()``; with manual optimisation the manual loop sets these two, and
      ``_on_after_step`` advances the counter that ``trainer.global_step`` reads.
    - ``.optimizer`` is the wrapped torch optimizer.

    There is no public way to advance ``global_step`` without Lightning's layers around the step.
    """
    optimizer._on_before_step()
    optimizer.optimizer.step(closure=closure)
    optimizer._on_after_step()


class AppendingExperimentWriter(ExperimentWriter):
    """Lightning's CSV writer, except that an existing ``metrics.csv`` is appended to, under its own
    columns, instead of deleted (a resumed run continues its file).

    Relies on (Lightning 2.6, ``lightning.fabric.loggers.csv_logs._ExperimentWriter``):

    - ``__init__`` calls ``self._check_log_dir_exists()``, which deletes an existing
      ``metrics_file_path``; there is no public switch to keep it.
    - ``save()`` treats ``metrics_keys`` as the columns already in the file: keys not in it rewrite
      the header (old rows kept), the rest are appended. So reading the existing header into
      ``metrics_keys`` makes the writer continue the file.
    """

    def _check_log_dir_exists(self) -> None:
        path = Path(self.metrics_file_path)
        if path.is_file():
            with open(path, newline="") as f:
                self.metrics_keys = next(csv.reader(f), [])


def appending_csv_experiment(logger: CSVLogger) -> ExperimentWriter:
    """The writer behind ``logger.experiment``, created (once) as an :class:`AppendingExperimentWriter`.

    Relies on: Lightning's ``CSVLogger`` caches its writer in ``_experiment`` (``None`` until the
    first use; its ``experiment`` property returns the cached one) and its filesystem in ``_fs``,
    and makes ``root_dir`` before it creates the writer. The writer class is not a parameter.
    """
    if logger._experiment is None:
        logger._fs.makedirs(logger.root_dir, exist_ok=True)
        logger._experiment = AppendingExperimentWriter(log_dir=logger.log_dir)
    return logger._experiment


def drop_null_anonymous(logger: Any) -> Any:
    """Remove ``anonymous=None`` from the arguments a Lightning ``WandbLogger`` will pass to
    ``wandb.init``; returns ``logger``.

    Relies on: ``WandbLogger.__init__`` (Lightning 2.6) stores the ``wandb.init`` keyword arguments in
    the dict ``_wandb_init`` and always sets ``"anonymous"`` there (``None`` unless
    ``anonymous=True``); ``WandbLogger.experiment`` calls ``wandb.init(**_wandb_init)``. wandb 0.31
    prints "The anonymous setting has no effect and will be removed" whenever ``anonymous`` is passed
    at all, ``None`` included, i.e. on every run. No public argument omits it.
    """
    init = getattr(logger, "_wandb_init", None)
    if isinstance(init, dict) and "anonymous" in init and init["anonymous"] is None:
        del init["anonymous"]
    return logger


def random_inception_v3(seed: int = 0) -> dict[str, torch.Tensor]:
    """The ``state_dict`` of a randomly initialised FID Inception-v3 (torch-fidelity's
    ``FeatureExtractorInceptionV3``), drawn from a private RNG stream seeded with ``seed``.

    Relies on: ``FeatureExtractorInceptionV3.__init__(name, features_list,
    feature_extractor_weights_path)`` (torch-fidelity 0.4) builds every layer, then loads
    ``torch.load(feature_extractor_weights_path)`` through ``self.load_state_dict`` (downloading the
    weights when no path is given). A subclass whose ``load_state_dict`` ignores its argument, given a
    file holding an empty dict, keeps the random initialisation and downloads nothing. torch-fidelity
    has no public way to build the network without weights.
    """
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class _Unloaded(FeatureExtractorInceptionV3):
        def load_state_dict(self, state_dict: Any, *args: Any, **kwargs: Any) -> Any:
            return None  # keep the random initialisation

    fd, empty = tempfile.mkstemp(suffix=".pth")
    os.close(fd)
    try:
        torch.save({}, empty)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = _Unloaded("inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=empty)
    finally:
        os.unlink(empty)
    return net.state_dict()


def config_root(node: Any) -> Any:
    """The root config of an OmegaConf node (``Node._get_root``: OmegaConf has no public way up)."""
    return node._get_root()
