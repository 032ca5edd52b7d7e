"""ganbench-export-records: a study's raw records, nothing else, written whole or not at all, and
read by ganbench-compare as the full run directories are."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ganbench.compare import compare
from ganbench.record_export import ExportError, export_records, main
from test_compare import write_run

KEPT = {"summary.json", "metrics.csv", "config.yaml", ".hydra/overrides.yaml"}


def _study(root: Path) -> Path:
    """A study directory as ganbench-study leaves it: search trials and seed runs with their
    checkpoints, plots, logs and Hydra files; trial.json; the Optuna storage; a run still running."""
    for loss in ("minimax", "hinge"):
        for i in range(2):
            run = write_run(root / "ring" / loss / "search" / "from0000", str(i), loss=loss, seed=i,
                            metrics={"modes_captured": 8 - i, "high_quality": 0.9, "reverse_kl": 0.1 + i})  # fmt: skip
            (run / ".hydra").mkdir()
            (run / ".hydra" / "overrides.yaml").write_text(f"- loss={loss}\n- seed={i}\n")
            (run / ".hydra" / "hydra.yaml").write_text("hydra: {}\n" * 50)
            (run / "checkpoints").mkdir()
            (run / "checkpoints" / "last.ckpt").write_bytes(os.urandom(4096))
            (run / "plots").mkdir()
            (run / "plots" / "samples_000100.png").write_bytes(b"\x89PNG" + os.urandom(2048))
            (run / "train.log").write_text("log\n" * 100)
        seeds = root / "ring" / loss / "seeds" / "top1"
        for s in (100, 101):
            write_run(seeds, f"s{s}", loss=loss, seed=s,
                      metrics={"modes_captured": 8, "high_quality": 0.95, "reverse_kl": 0.01 * (s - 99)})  # fmt: skip
        (seeds / "trial.json").write_text('{"trial_dir": "x", "trial": {"number": 0}}\n')
        (seeds / "multirun.yaml").write_text("hydra: {}\n")
    running = root / "ring" / "hinge" / "seeds" / "top1" / "s102"
    running.mkdir()
    (running / "metrics.csv").write_text("iteration,d_loss\n1,0.5\n")
    with sqlite3.connect(root / "optuna.db") as db:
        db.execute("create table trials (number integer, value real)")
        db.executemany("insert into trials values (?, ?)", [(0, 0.5), (1, 0.25)])
    (root / "logs").mkdir()
    (root / "logs" / "ring-minimax.log").write_text("log\n")
    return root


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_only_the_raw_records_are_exported_byte_for_byte(tmp_path):
    src = _study(tmp_path / "study")
    done = export_records(src, tmp_path / "records")
    dest = tmp_path / "records"
    runs = [p.parent for p in src.rglob("summary.json")]
    expected = {str(r.relative_to(src) / name) for r in runs for name in KEPT if (r / name).is_file()}
    expected |= {"ring/minimax/seeds/top1/trial.json", "ring/hinge/seeds/top1/trial.json", "optuna.db"}
    assert _files(dest) == expected
    assert done.runs == len(runs) == 8 and len(done.files) == len(expected)
    assert done.size == sum((dest / f).stat().st_size for f in expected)
    assert done.left_behind == sum(p.stat().st_size for p in src.rglob("*") if p.is_file()) - done.size
    for f in expected - {"optuna.db"}:
        assert (dest / f).read_bytes() == (src / f).read_bytes(), f
    with sqlite3.connect(dest / "optuna.db") as db:
        assert db.execute("select number, value from trials order by number").fetchall() == [(0, 0.5), (1, 0.25)]
    assert not any(".tmp" in p.name or ".old" in p.name for p in tmp_path.iterdir())


def test_the_records_compare_as_the_runs_do(tmp_path):
    """The tables ganbench-compare writes from the exported records equal those from the full runs."""
    src = _study(tmp_path / "study")
    export_records(src, tmp_path / "records")
    full = compare([src / "ring"], by=["dataset", "loss"], out=tmp_path / "full", plots=False)
    kept = compare([tmp_path / "records" / "ring"], by=["dataset", "loss"], out=tmp_path / "kept", plots=False)
    assert kept.table == full.table
    for name in ("comparison.csv", "significance.csv", "findings.md"):
        assert (tmp_path / "kept" / name).read_text() == (tmp_path / "full" / name).read_text(), name


def test_an_existing_destination_is_replaced_only_when_asked(tmp_path):
    src = _study(tmp_path / "study")
    dest = tmp_path / "records"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    with pytest.raises(ExportError, match="exists and is not empty: add --replace"):
        export_records(src, dest)
    assert _files(dest) == {"old.txt"}
    export_records(src, dest, replace=True)
    assert "old.txt" not in _files(dest) and "optuna.db" in _files(dest)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["records", "study"]


def test_a_failed_copy_leaves_the_old_destination_whole(tmp_path, monkeypatch):
    src = _study(tmp_path / "study")
    dest = tmp_path / "records"
    export_records(src, dest)
    before = {f: (dest / f).read_bytes() for f in _files(dest) if f != "optuna.db"}
    import ganbench.record_export as record_export

    calls = []
    real = record_export._copy

    def failing(a: Path, b: Path) -> None:
        calls.append(a)
        if len(calls) == 5:
            raise OSError(28, "No space left on device")
        real(a, b)

    monkeypatch.setattr(record_export, "_copy", failing)
    with pytest.raises(OSError, match="No space left"):
        export_records(src, dest, replace=True)
    assert {f: (dest / f).read_bytes() for f in _files(dest) if f != "optuna.db"} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["records", "study"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda t: t / "missing", "is not a directory: give the study or multirun directory"),
        (lambda t: (t / "empty").mkdir() or t / "empty", "no run under .* has a summary.json"),
    ],
)
def test_bad_sources_are_one_line_errors_that_write_nothing(tmp_path, capsys, make, message):
    src = make(tmp_path)
    assert main([str(src), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("ganbench-export-records: error: ")
    assert __import__("re").search(message, err), err
    assert not (tmp_path / "out").exists()


def test_exporting_into_the_runs_is_refused(tmp_path, capsys):
    src = _study(tmp_path / "study")
    assert main([str(src), str(src / "records")]) == 2
    assert "is inside" in capsys.readouterr().err
    assert not (src / "records").exists()


def test_the_command_line_says_what_it_wrote(tmp_path):
    src = _study(tmp_path / "study")
    proc = subprocess.run([sys.executable, "-m", "ganbench.record_export", str(src), str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    # 8 runs × (summary, metrics, config) + 4 trials' overrides.yaml + 2 trial.json + optuna.db
    assert proc.stdout.startswith("ganbench-export-records: 8 runs, 31 files, ") and "left behind" in proc.stdout
