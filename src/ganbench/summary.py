"""The run summary: ``summary.json``, the contract every downstream tool reads.

Schema (keys beyond these may be added, never removed)::

    {"status": "running" | "completed" | "diverged" | "failed" | "interrupted",
     "iterations": int,            # iterations completed
     "seed": int,
     "choices": {"dataset": str, "model": str, "loss": str, "regularizer": str, ...},
     "metrics": {...},             # the final evaluation
     "wall_seconds": float,
     ...}
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

SUMMARY_NAME = "summary.json"
STATUSES = ("running", "completed", "diverged", "failed", "interrupted")


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/inf; keep them readable
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: readers see the old file
    or the new one, never a partial one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_summary(run_dir: Path, summary: dict[str, Any]) -> Path:
    if summary.get("status") not in STATUSES:
        raise ValueError(f"summary status must be one of {STATUSES}, got {summary.get('status')!r}")
    path = Path(run_dir) / SUMMARY_NAME
    atomic_write_text(path, json.dumps(_jsonable(summary), indent=2, sort_keys=False) + "\n")
    return path


def read_summary(run_dir: Path) -> dict[str, Any]:
    return json.loads((Path(run_dir) / SUMMARY_NAME).read_text())
