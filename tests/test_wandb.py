"""W&B logging, offline: a real sweep with ``logger=wandb``, its offline runs read back record by record."""

from __future__ import annotations

import csv
import glob
import hashlib
import json
import os
import shlex
import struct
import subprocess
import sys
from pathlib import Path

import matplotlib.image as mpimg
import pytest
from omegaconf import OmegaConf
from wandb.proto import wandb_internal_pb2

import ganbench
from ganbench.config import compose
from ganbench.wandb_support import api_key_available, resolve_mode, run_name, run_tags, sweep_group, wandb_logger

SRC = Path(ganbench.__file__).resolve().parents[1]
BLOCK = 32768  # the .wandb file is a LevelDB-style log: 32 KiB blocks of checksummed chunks
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def read_records(path: Path) -> list[wandb_internal_pb2.Record]:
    """Every record of an offline run's ``run-<id>.wandb`` file."""
    data = path.read_bytes()
    ident, magic, version = struct.unpack("<4sHB", data[:7])
    assert (ident, magic, version) == (b":W&B", 0xBEE1, 0)
    records, pos, chunk = [], 7, b""
    while pos + 7 <= len(data):
        left = BLOCK - pos % BLOCK
        if left < 7:  # block trailer: padding
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if kind == 0 and length == 0:
            pos += left
            continue
        payload = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        chunk = payload if kind in (FULL, FIRST) else chunk + payload
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(chunk)
            records.append(record)
    return records


def offline_run(run_dir: Path) -> dict:
    """The run record, the config and the history rows of the one offline W&B run in ``run_dir``."""
    (path,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    out: dict = {"config": {}, "history": []}
    for record in read_records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            out["run"] = record.run
        if kind in ("run", "config"):
            updates = (record.run.config if kind == "run" else record.config).update
            out["config"].update({u.key: json.loads(u.value_json) for u in updates})
        if kind == "history":
            out["history"].append(
                {"/".join(i.nested_key) or i.key: json.loads(i.value_json) for i in record.history.item}
            )
    return out


@pytest.fixture
def no_credentials(tmp_path, monkeypatch):
    """An environment with no W&B key, mode or user settings."""
    for var in ("WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE", "WANDB_MODE", "WANDB_BASE_URL", "NETRC"):
        monkeypatch.delenv(var, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var, sub in (("WANDB_CONFIG_DIR", "config"), ("WANDB_CACHE_DIR", "cache"), ("WANDB_DATA_DIR", "data")):
        monkeypatch.setenv(var, str(tmp_path / "wandb-home" / sub))
    return home


def test_offline_sweep_logs_config_and_metrics_and_finishes_every_job(no_credentials, tmp_path):
    sweep = tmp_path / "sweep"
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "ganbench.train", "-m", "logger=wandb", "loss=hinge,minimax", "seed=7"]
        + ["iterations=10", "eval.every=5", "evaluator.num_samples=200", "log_every=5", "checkpoint.every=null"]
        + ["trainer.enable_progress_bar=false", f"hydra.sweep.dir={sweep}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "WANDB_MODE" not in env

    runs = {}
    for loss in ("hinge", "minimax"):
        (job,) = sweep.glob(f"*_{loss}_none_s7")
        runs[loss] = (job, offline_run(job))  # exactly one W&B run in each job's directory
    ids = {r["run"].run_id for _, r in runs.values()}
    assert len(ids) == 2  # wandb.finish() after the first job: the second did not reuse its run

    for loss, (job, wb) in runs.items():
        run = wb["run"]
        assert run.display_name == f"{loss}-ring-s7"
        assert list(run.tags) == [loss, "none", "ring"]
        assert run.run_group == sweep.name and run.job_type == "train" and run.project == "ganbench"
        # the full resolved config, as in the run's config.yaml, plus the config-group choices, the
        # objective as it ran and the search trial (none here)
        extra = ("_wandb", "choices", "objective", "trial")
        assert {k: v for k, v in wb["config"].items() if k not in extra} == OmegaConf.to_container(
            OmegaConf.load(job / "config.yaml")
        )
        assert wb["config"]["choices"]["loss"] == loss and wb["config"]["seed"] == 7
        assert wb["config"]["objective"] == {"loss": loss, "regularizer": "none"}
        assert wb["config"].get("trial") is None
        assert wb["config"]["optimizer"]["generator"]["lr"] == pytest.approx(1e-3)

        # every metric logged to metrics.csv is in the W&B history, at the same iteration, with the same value
        rows = list(csv.DictReader(open(job / "metrics.csv")))
        for column in ("d_loss", "g_loss", "d_real", "modes_captured", "reverse_kl"):
            from_csv = [(int(r["iteration"]), float(r[column])) for r in rows if r[column]]
            from_wandb = [(h["iteration"], h[column]) for h in wb["history"] if column in h]
            assert len(from_csv) == (3 if column.startswith(("d_", "g_")) else 2)
            assert [x for x, _ in from_wandb] == [x for x, _ in from_csv]
            assert [y for _, y in from_wandb] == pytest.approx([y for _, y in from_csv], rel=1e-6)
        assert all(h["trainer/global_step"] == h["iteration"] for h in wb["history"])

        # each evaluation's scatter plot, logged as an image at its iteration: the very file the run saved
        images = [
            (h["iteration"], {k.split("/", 1)[1]: v for k, v in h.items() if k.startswith("samples/")})
            for h in wb["history"]
            if "samples/_type" in h  # wandb stores the image's fields as nested keys samples/...
        ]
        assert [it for it, _ in images] == [5, 10]
        for it, image in images:
            assert image["_type"] == "image-file" and image["caption"].startswith(f"iteration {it}: modes_captured=")
            plot = job / "plots" / f"samples_{it:06d}.png"
            assert image["sha256"] == hashlib.sha256(plot.read_bytes()).hexdigest()
            (offline_dir,) = job.glob("wandb/offline-run-*")
            assert (offline_dir / "files" / image["path"]).read_bytes() == plot.read_bytes()
            height, width = mpimg.imread(plot).shape[:2]
            assert (image["width"], image["height"]) == (width, height)

    # the sweep ends with the command that uploads both runs
    (line,) = [ln for ln in done.stdout.splitlines() if ln.strip().startswith("wandb sync ")]
    matched = sorted(m for pattern in shlex.split(line)[2:] for m in glob.glob(pattern))
    assert matched == sorted(str(p.parent) for p in sweep.glob("*/wandb/offline-run-*/run-*.wandb"))


def test_mode_is_offline_without_a_key_and_the_process_environment_is_left_alone(no_credentials, tmp_path):
    cfg = compose(["logger=wandb", "loss=hinge", "dataset=grid", "seed=2"])
    logger = wandb_logger(
        save_dir=str(tmp_path), run_cfg=cfg, **{k: v for k, v in cfg.logger.wandb.items() if k != "_target_"}
    )
    init = logger._wandb_init
    assert init["mode"] == "offline" and init["name"] == "hinge-grid-s2"
    assert init["tags"] == ["hinge", "none", "grid"] and init["group"] is None
    experiment = logger.experiment  # starts the offline run
    assert experiment.settings.mode == "offline"
    assert experiment.config["loss"]["_target_"] == "ganbench.losses.HingeLoss"
    experiment.finish()
    assert "WANDB_MODE" not in os.environ  # unlike WandbLogger(offline=True)


def test_api_key_detection(tmp_path):
    assert not api_key_available({"HOME": str(tmp_path)})
    assert api_key_available({"HOME": str(tmp_path), "WANDB_API_KEY": "x" * 40})
    (tmp_path / ".netrc").write_text("machine api.wandb.ai\n  login user\n  password " + "k" * 40 + "\n")
    assert api_key_available({"HOME": str(tmp_path)})
    # a key for another host does not count
    assert not api_key_available({"HOME": str(tmp_path), "WANDB_BASE_URL": "https://wandb.example.org"})


def test_resolve_mode(tmp_path):
    no_key = {"HOME": str(tmp_path)}
    with_key = {"HOME": str(tmp_path), "WANDB_API_KEY": "x" * 40}
    assert resolve_mode(None, no_key) == "offline"
    assert resolve_mode(None, with_key) == "online"
    assert resolve_mode(None, {**no_key, "WANDB_MODE": "disabled"}) is None  # wandb reads WANDB_MODE itself
    assert resolve_mode("offline", with_key) == "offline"
    with pytest.raises(ValueError, match="no W&B API key.*wandb login"):
        resolve_mode("online", no_key)
    with pytest.raises(ValueError, match="must be one of"):
        resolve_mode("dryrun", no_key)


def test_names_tags_and_groups():
    picked = {"dataset": "grid", "loss": "least_squares", "regularizer": "r1", "model": "mlp"}
    assert run_name(picked, 4) == "least_squares-grid-s4"
    assert run_tags(picked) == ["least_squares", "r1", "grid"]
    sweep = OmegaConf.create({"mode": "MULTIRUN", "sweep": {"dir": "multirun/2026-11-23_11-40-02"}, "runtime": {}})
    assert sweep_group(sweep) == "2026-11-23_11-40-02"
    study = OmegaConf.merge(sweep, {"runtime": {"choices": {"experiment": "toy_loss_study"}}})
    assert sweep_group(study) == "toy_loss_study"
    assert sweep_group(OmegaConf.create({"mode": "RUN", "runtime": {}})) is None
