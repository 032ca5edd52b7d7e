"""``ganbench-export-records SRC DEST``: the raw records of the runs under SRC, and nothing else.

A study commits what its tables are computed from, so that ``ganbench-compare`` regenerates them
from the repository alone: for every run directory under SRC (a directory holding
``summary.json``), its ``summary.json``, ``metrics.csv``, resolved ``config.yaml`` and
``.hydra/overrides.yaml`` (the job's command-line overrides); and every ``trial.json`` (which search
trial a seed stage re-ran) and Optuna storage (``optuna.db``) under SRC. Each keeps its path
relative to SRC. Checkpoints, plots, logs and W&B files stay behind.

DEST is written whole or not at all: the records go into a temporary directory beside DEST, which
then takes DEST's place. An existing DEST is replaced only with ``--replace``. The Optuna storage is
copied through SQLite's backup API, so a study still writing to it gives a consistent copy.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ganbench.metrics_csv import METRICS_CSV
from ganbench.summary import SUMMARY_NAME

RUN_FILES = (SUMMARY_NAME, METRICS_CSV, "config.yaml", ".hydra/overrides.yaml")  # of each run directory
STUDY_FILES = ("trial.json",)  # anywhere under SRC
STORAGE_FILES = ("optuna.db",)  # anywhere under SRC: SQLite, copied with its backup API


class ExportError(ValueError):
    """An export that cannot be made, with what to do about it."""


@dataclass
class Export:
    """What an export wrote: the runs, the files with their total size, and what was left behind."""

    runs: int
    files: list[Path]  # relative to DEST
    size: int  # bytes written
    left_behind: int  # bytes under SRC not exported


def record_files(src: Path) -> tuple[list[Path], int, int]:
    """The files to export, relative to ``src``, sorted; the number of run directories; and the
    size of every file under ``src`` (one walk of the tree)."""
    chosen: list[Path] = []
    runs = total = 0
    for top, dirs, names in os.walk(src):
        here = Path(top)
        dirs.sort()
        total += sum((here / n).stat().st_size for n in names if (here / n).is_file() and not (here / n).is_symlink())
        if SUMMARY_NAME in names:
            runs += 1
            chosen.extend(p.relative_to(src) for name in RUN_FILES if (p := here / name).is_file())
        chosen.extend((here / n).relative_to(src) for n in names if n in (*STUDY_FILES, *STORAGE_FILES))
    return sorted(set(chosen)), runs, total


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.name in STORAGE_FILES:
        source, target = sqlite3.connect(f"file:{src}?mode=ro", uri=True), sqlite3.connect(dst)
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()
    else:
        shutil.copyfile(src, dst)


def export_records(src: Path | str, dest: Path | str, replace: bool = False) -> Export:
    """Copy the raw records of the runs under ``src`` into ``dest`` (see the module's docstring)."""
    src, dest = Path(src), Path(dest)
    if not src.is_dir():
        raise ExportError(f"{src} is not a directory: give the study or multirun directory whose runs to export")
    if dest.resolve() == src.resolve() or src.resolve() in dest.resolve().parents:
        raise ExportError(f"{dest} is inside {src}: export into a directory outside the runs")
    files, runs, total = record_files(src)
    if runs == 0:
        raise ExportError(
            f"no run under {src} has a {SUMMARY_NAME} (ganbench-train writes one when a run ends): "
            "give the study or multirun directory"
        )
    if dest.exists() and not replace and (not dest.is_dir() or any(dest.iterdir())):
        raise ExportError(f"{dest} exists and is not empty: add --replace to replace it, or choose another DEST")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    old = dest.with_name(f".{dest.name}.{os.getpid()}.old")
    try:
        for rel in files:
            _copy(src / rel, tmp / rel)
        if dest.exists():
            dest.rename(old)
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not dest.exists():
            old.rename(dest)
        raise
    shutil.rmtree(old, ignore_errors=True)
    size = sum((dest / rel).stat().st_size for rel in files)
    return Export(runs, files, size, total - sum((src / rel).stat().st_size for rel in files))


def _human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # unreachable


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ganbench-export-records",
        description="Copy the raw records of the runs under SRC into DEST (summary.json, metrics.csv, config.yaml "
        "and .hydra/overrides.yaml of each run; every trial.json and optuna.db), keeping their relative paths; "
        "no checkpoints, plots or logs. ganbench-compare reads DEST as it reads SRC.",
    )
    parser.add_argument("src", type=Path, help="a study or multirun directory")
    parser.add_argument("dest", type=Path, help="where the records go (written whole, or not at all)")
    parser.add_argument("--replace", action="store_true", help="replace DEST if it exists")
    args = parser.parse_args(argv)
    try:
        done = export_records(args.src, args.dest, args.replace)
    except ExportError as err:
        print(f"ganbench-export-records: error: {err}", file=sys.stderr)
        return 2
    print(
        f"ganbench-export-records: {done.runs} runs, {len(done.files)} files, {_human(done.size)} written to "
        f"{args.dest} ({_human(done.left_behind)} of checkpoints, plots and logs left behind)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
