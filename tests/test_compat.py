"""Pins of the upstream behaviour that ganbench._compat (and GANModule.log_metrics) rely on.

Each test states, against the installed Lightning, wandb and torch-fidelity, what a shim assumes.
If an upgrade changes it, the test fails here, naming the shim to revisit, instead of a run going
silently wrong."""

from __future__ import annotations

import csv
import inspect
import warnings
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger as LightningCSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from ganbench._compat import (
    AppendingExperimentWriter,
    appending_csv_experiment,
    drop_null_anonymous,
    random_inception_v3,
    step_without_lightning_layers,
)
from ganbench.loggers import CSVLogger


def read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


# ---------------------------------------------------------------------------------- CSV writer
def test_lightning_csv_writer_deletes_an_existing_file_through_check_log_dir_exists(tmp_path):
    # what AppendingExperimentWriter works around: the stock writer empties a resumed run's history
    (tmp_path / "metrics.csv").write_text("a,step\n1.0,1\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "exists and is not empty"
        ExperimentWriter(log_dir=str(tmp_path))
    assert not (tmp_path / "metrics.csv").exists()
    # … from the hook the shim overrides: a method taking only self, called by __init__
    assert list(inspect.signature(ExperimentWriter._check_log_dir_exists).parameters) == ["self"]
    calls = []

    class Recording(ExperimentWriter):
        def _check_log_dir_exists(self) -> None:
            calls.append(self.metrics_file_path)

    Recording(log_dir=str(tmp_path))
    assert calls == [str(tmp_path / "metrics.csv")]


def test_appending_writer_continues_the_file_under_its_columns(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("a,iteration,step\n0.5,1,1\n")
    writer = AppendingExperimentWriter(log_dir=str(tmp_path))
    assert writer.metrics_keys == ["a", "iteration", "step"]  # save() reads these as the file's columns
    writer.log_metrics({"a": 0.25, "iteration": 2}, step=2)
    writer.save()
    assert read(path) == (
        ["a", "iteration", "step"],
        [{"a": "0.5", "iteration": "1", "step": "1"}, {"a": "0.25", "iteration": "2", "step": "2"}],
    )
    writer.log_metrics({"b": 7.0, "iteration": 3}, step=3)  # a new column rewrites the header, rows kept
    writer.save()
    header, rows = read(path)
    assert header == ["a", "b", "iteration", "step"]
    assert [r["step"] for r in rows] == ["1", "2", "3"] and [r["b"] for r in rows] == ["", "", "7.0"]


def test_lightning_csv_logger_caches_its_writer_in_experiment(tmp_path):
    logger = LightningCSVLogger(str(tmp_path / "run"), name="", version="")
    assert logger._experiment is None and hasattr(logger._fs, "makedirs")
    writer = appending_csv_experiment(logger)
    assert isinstance(writer, AppendingExperimentWriter)
    assert logger.experiment is writer  # the stock property returns the cached writer
    assert (tmp_path / "run").is_dir()


def test_ganbench_csv_logger_appends_across_runs(tmp_path):
    for start in (1, 3):
        logger = CSVLogger(str(tmp_path), name="", version="")
        for it in (start, start + 1):
            logger.log_metrics({"d_loss": float(it), "iteration": it}, step=it)
        logger.save()
    _, rows = read(tmp_path / "metrics.csv")
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]


# ---------------------------------------------------------------------------------- W&B
def test_wandb_logger_passes_its_init_dict_to_wandb_init_with_anonymous_none(tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    from lightning.pytorch.loggers import WandbLogger

    logger = WandbLogger(save_dir=str(tmp_path), mode="disabled", project="p")
    assert isinstance(logger._wandb_init, dict) and logger._wandb_init["anonymous"] is None
    seen = {}

    def fake_init(**kwargs):
        seen.update(kwargs)
        raise RuntimeError("stop here")

    monkeypatch.setattr(wandb, "init", fake_init)
    monkeypatch.setattr(wandb, "run", None)
    with pytest.raises(RuntimeError, match="stop here"):
        _ = drop_null_anonymous(logger).experiment
    assert "anonymous" not in seen and seen["mode"] == "disabled" and seen["project"] == "p"


def test_wandb_still_warns_about_anonymous_none(monkeypatch):
    # while this holds, drop_null_anonymous is needed; when it fails, the shim can go
    wandb = pytest.importorskip("wandb")
    printed = []
    monkeypatch.setattr(wandb, "termwarn", lambda message, *a, **k: printed.append(message))
    wandb.Settings(anonymous=None)
    assert any("anonymous" in m for m in printed)
    printed.clear()
    wandb.Settings()
    assert not any("anonymous" in m for m in printed)


# ---------------------------------------------------------------------------------- torch-fidelity
def test_random_inception_v3_builds_without_download_and_loads_into_torchmetrics(tmp_path, monkeypatch):
    import torch_fidelity.feature_extractor_inceptionv3 as fe
    from torchmetrics.image.fid import NoTrainInceptionV3

    monkeypatch.setattr(fe, "load_state_dict_from_url", lambda *a, **k: pytest.fail("tried to download"))
    state = random_inception_v3(seed=3)
    assert torch.equal(random_inception_v3(seed=3)["fc.weight"], state["fc.weight"])  # seeded
    assert not torch.equal(random_inception_v3(seed=4)["fc.weight"], state["fc.weight"])
    torch.save(state, tmp_path / "w.pth")
    net = NoTrainInceptionV3("inception-v3-compat", ["2048"], str(tmp_path / "w.pth"))  # strict load: same keys
    assert torch.equal(net.fc.weight, state["fc.weight"])
    # the shim relies on the constructor loading through self.load_state_dict
    assert "self.load_state_dict(" in inspect.getsource(fe.FeatureExtractorInceptionV3.__init__)


def test_public_forward_and_fc_give_torch_fidelitys_unbiased_logits(tmp_path):
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    from ganbench.evaluation.features import InceptionExtractor

    weights = tmp_path / "w.pth"
    torch.save(random_inception_v3(seed=1), weights)
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    features, logits = InceptionExtractor(str(weights))(images)
    # torch-fidelity's own network and definition (its public forward), on the same bytes
    reference = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"], str(weights))
    ref_features, ref_logits = reference(((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8))
    assert features.shape == (2, 2048) and logits.shape == (2, 1008)
    torch.testing.assert_close(features, ref_features, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(logits, ref_logits, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(logits, reference.fc(ref_features))  # unbiased: the bias is left out


# ---------------------------------------------------------------------------------- Lightning logging
class _Sparse(L.LightningModule):
    """Logs (on_step, logger=True) at its first and third steps only."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)
        self.automatic_optimization = False

    def training_step(self, batch, batch_idx):
        if batch_idx in (0, 2):
            self.log_dict({"a": float(batch_idx), "step": 10.0 * batch_idx}, on_step=True, on_epoch=False)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self):
        return torch.utils.data.DataLoader(torch.zeros(4, 1), batch_size=1)


def test_lightning_rewrites_stale_step_values_at_every_flush(tmp_path):
    """Why GANModule.log_metrics writes to the loggers itself (self.log_dict with logger=False):
    Lightning flushes every value logged since the epoch began, at every log_every_n_steps steps,
    so a metric logged once (an evaluation) would be written again, stale, at later steps. Lightning
    does take a logged "step" as the x-axis."""
    logger = LightningCSVLogger(str(tmp_path), name="", version="")
    trainer = L.Trainer(
        max_epochs=1,
        logger=logger,
        log_every_n_steps=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(_Sparse())
    _, rows = read(tmp_path / "metrics.csv")
    assert [(r["a"], r["step"]) for r in rows] == [("0.0", "0"), ("0.0", "0"), ("2.0", "20"), ("2.0", "20")]


class _ManualSteps(L.LightningModule):
    """Manual optimisation: each batch steps SGD through ``step_without_lightning_layers``, with a
    closure that counts its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.w = torch.nn.Parameter(torch.ones(1))
        self.closure_calls = 0

    def training_step(self, batch, batch_idx):
        opt = self.optimizers()
        opt.zero_grad()
        (self.w * batch.sum()).backward()

        def closure():
            self.closure_calls += 1

        step_without_lightning_layers(opt, closure)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.5)

    def train_dataloader(self):
        return torch.utils.data.DataLoader(torch.ones(3, 1), batch_size=1)


def test_step_without_lightning_layers_advances_global_step_and_steps_the_optimizer():
    """What the direct optimiser step relies on: the manual loop's ``_on_before_step`` and
    ``_on_after_step`` of a LightningOptimizer advance ``global_step`` (one per step, as
    ``LightningOptimizer.step()`` does), and ``.optimizer`` is the torch optimizer, which calls the
    closure once per SGD step."""
    module = _ManualSteps()
    trainer = L.Trainer(
        max_epochs=1, logger=False, enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(module)
    assert trainer.global_step == 3
    assert module.closure_calls == 3
    assert module.w.item() == pytest.approx(1 - 3 * 0.5)  # three SGD steps of gradient 1
