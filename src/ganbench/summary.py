"""The run record: ``summary.json``, the contract every downstream tool reads.

One module owns it. :class:`RunRecord` is the typed record; :class:`RunRecorder` starts, resumes
and finishes a run and is the only writer; :func:`load_record` is how every reader (training's
resume, ``ganbench-compare``, :func:`ganbench.load_run`) gets it back, validated.

Schema (keys may be added, never removed)::

    {"status": "running" | "completed" | "diverged" | "failed" | "interrupted",
     "iterations": int,                # iterations completed
     "seed": int,
     "choices": {"dataset": str, "model": str, "loss": str, "regularizer": str, ...},
     "objective": {"loss": str, "regularizer": str},   # what ran: see ganbench.identity
     "metrics": {name: float},         # the final evaluation: metrics only
     "directions": {name: "max" | "min" | null},        # declared by the evaluator
     "info": {...},                    # facts about the benchmark that are not metrics (num_modes …)
     "wall_seconds": float,            # this stretch of the run (since it was last started or resumed)
     "run_dir": str,
     # optional: "evaluated_at", "plot", "sample_grid", "checkpoint", "resumed_from",
     # "wall_seconds_before" (the stretches before a resume), "cpu_seconds" (the CPU time of this
     # stretch: every thread of the training process, rank 0's in a multi-process run),
     # "cpu_seconds_before", "reason", "signal" (interrupted), "diverged_at", "error", "trial",
     # "planned_iterations" (a run that a callback stopped before them, early stopping: its
     # "reason" says why, and resuming it does nothing unless iterations= goes beyond them),
     # "code" (what code ran: ganbench.provenance), "code_before" (a resumed run: the other code
     # its earlier stretches ran, oldest first)}
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

SUMMARY_NAME = "summary.json"
STATUSES = ("running", "completed", "diverged", "failed", "interrupted")
FAILURES = ("diverged", "failed")
DIRECTIONS = ("max", "min", None)
# how summary.json stores non-finite numbers (JSON has none)
NON_FINITE = frozenset({"nan", "inf", "-inf", "infinity", "-infinity"})


class RecordError(ValueError):
    """A ``summary.json`` that is not a valid run record (the message names the file and the problem)."""


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


def readable_mode() -> int:
    """The mode a newly created file gets under the current umask (mkstemp's files are 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: readers see the old file
    or the new one, never a partial one. The file gets the permissions of a plain ``open()``
    (0666 less the umask), so collaborators on a shared file system can read it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fchmod(f.fileno(), readable_mode())
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class RunRecord:
    """The typed content of ``summary.json``. Optional fields that are None are not written."""

    status: str
    iterations: int
    seed: int
    choices: dict[str, str]
    metrics: dict[str, Any] = field(default_factory=dict)
    directions: dict[str, str | None] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    objective: dict[str, str] = field(default_factory=dict)
    wall_seconds: float = 0.0
    run_dir: str | None = None
    evaluated_at: int | None = None
    plot: str | None = None
    sample_grid: str | None = None
    checkpoint: str | None = None
    resumed_from: int | None = None
    wall_seconds_before: float | None = None
    cpu_seconds: float | None = None
    cpu_seconds_before: float | None = None
    reason: str | None = None
    signal: str | None = None
    diverged_at: int | None = None
    error: str | None = None
    planned_iterations: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # keys written by others, kept as they are

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "extra" and v is not None}
        return {**self.extra, **out}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "summary.json") -> RunRecord:
        """Validate ``data`` and build the record; :class:`RecordError` names ``source`` and every problem."""
        if not isinstance(data, dict):
            raise RecordError(f"{source}: not a JSON object")
        problems = validate(data)
        if problems:
            raise RecordError(f"{source}: " + "; ".join(problems))
        known = {f.name for f in fields(cls)} - {"extra"}
        return cls(
            **{k: v for k, v in data.items() if k in known}, extra={k: v for k, v in data.items() if k not in known}
        )

    @property
    def failed(self) -> bool:
        return self.status in FAILURES


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


def summary_problem(summary: Any) -> tuple[str, tuple[str, ...]] | None:
    """What is wrong with a parsed ``summary.json`` (a message and the key path it concerns), or
    None. Required: status (one of the known ones), iterations and seed (integers), choices and
    metrics (objects); typed when present: the seconds, directions, info, objective."""
    if not isinstance(summary, dict):
        return f"is a JSON {type(summary).__name__}, not an object", ()
    missing = [k for k in ("status", "iterations", "seed", "choices", "metrics") if k not in summary]
    if missing:
        return f"lacks the required field(s) {', '.join(missing)}", ()
    status = summary["status"]
    if status not in STATUSES:
        return f"has an unknown status {status!r} (expected one of {', '.join(STATUSES)})", ("status",)
    for key in ("iterations", "seed"):
        if not _is_int(summary[key]) or summary[key] < 0:
            return f"{key} must be a non-negative integer, got {summary[key]!r}", (key,)
    choices = summary["choices"]
    if not isinstance(choices, dict) or not all(_is_scalar(v) for v in choices.values()):
        return f"choices must be an object of option names, got {choices!r}", ("choices",)
    metrics = summary["metrics"]
    if not isinstance(metrics, dict):
        return f"metrics must be an object, got {metrics!r}", ("metrics",)
    for name, value in metrics.items():
        if not (is_number(value) or (isinstance(value, str) and value.lower() in NON_FINITE)):
            return f"metric {name} must be a number, got {value!r}", ("metrics", name)
    for key in ("wall_seconds", "wall_seconds_before", "cpu_seconds", "cpu_seconds_before"):
        if summary.get(key) is not None and not is_number(summary[key]):
            return f"{key} must be a number, got {summary[key]!r}", (key,)
    directions = summary.get("directions")
    if directions is not None:
        if not isinstance(directions, dict):
            return f"directions must be an object, got {directions!r}", ("directions",)
        for name, d in directions.items():
            if d not in DIRECTIONS:
                return f"direction of {name} must be 'max', 'min' or null, got {d!r}", ("directions", name)
    for key in ("info", "objective"):
        if key in summary and summary[key] is not None and not isinstance(summary[key], dict):
            return f"{key} must be an object, got {summary[key]!r}", (key,)
    objective = summary.get("objective") or {}
    for name, v in objective.items():
        if v is not None and not isinstance(v, str):
            return f"objective.{name} must be a string, got {v!r}", ("objective", name)
    return None


def validate(data: Any) -> list[str]:
    """The problems that make ``data`` an invalid run record (empty when it is valid)."""
    problem = summary_problem(data)
    return [problem[0]] if problem else []


def write_record(run_dir: Path, record: RunRecord | dict[str, Any]) -> Path:
    """Write ``summary.json`` atomically (non-finite numbers as strings)."""
    data = record.to_dict() if isinstance(record, RunRecord) else dict(record)
    if data.get("status") not in STATUSES:
        raise ValueError(f"summary status must be one of {STATUSES}, got {data.get('status')!r}")
    path = Path(run_dir) / SUMMARY_NAME
    atomic_write_text(path, json.dumps(_jsonable(data), indent=2, sort_keys=False) + "\n")
    return path


def _line_of(text: str, *keys: str) -> int:
    """The line of ``text`` (1-based) where the JSON key path ``keys`` appears, best effort: each
    key is searched after the line of the one before. 1 when not found."""
    lines = text.splitlines()
    start, found = 0, 1
    for key in keys:
        pattern = re.compile(r'"' + re.escape(key) + r'"\s*:')
        for i in range(start, len(lines)):
            if pattern.search(lines[i]):
                start, found = i + 1, i + 1
                break
        else:
            return found
    return found


def read_record(path: Path) -> dict[str, Any]:
    """The validated content of the ``summary.json`` at ``path``: the one reader of run records.
    :class:`RecordError` ``"path:line: what is wrong"`` for a file that cannot be read, is not JSON
    or is not a valid record; OSError (FileNotFoundError when there is none) when it cannot be opened."""
    path = Path(path)
    try:
        text = path.read_text()
    except UnicodeDecodeError as err:
        raise RecordError(f"{path}: cannot be read ({err})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise RecordError(f"{path}:{err.lineno}: not valid JSON ({err.msg}, column {err.colno})") from None
    problem = summary_problem(data)
    if problem:
        message, keys = problem
        raise RecordError(f"{path}:{_line_of(text, *keys) if keys else 1}: {message}")
    return data


def load_record(run_dir: Path) -> RunRecord:
    """The validated record of ``run_dir`` (:func:`read_record`): :class:`RecordError` for a
    malformed one, FileNotFoundError when there is none."""
    path = Path(run_dir) / SUMMARY_NAME
    return RunRecord.from_dict(read_record(path), str(path))


def run_wall_seconds(summary: dict[str, Any]) -> float:
    """The wall-clock seconds a run took in all: ``wall_seconds`` of its last stretch, plus
    ``wall_seconds_before`` of the stretches before it was resumed."""
    return float(summary["wall_seconds"]) + float(summary.get("wall_seconds_before") or 0.0)


class RunClock:
    """The time a stretch of a run takes: wall-clock seconds and the CPU seconds of this process
    (all its threads; not those of other processes, such as a DataLoader's workers)."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def elapsed(self) -> dict[str, float]:
        """``wall_seconds`` and ``cpu_seconds`` since the clock was made, for the run record."""
        return {
            "wall_seconds": round(time.perf_counter() - self.wall, 3),
            "cpu_seconds": round(time.process_time() - self.cpu, 3),
        }


class RunRecorder:
    """The one writer of a run's ``summary.json``.

    ``start`` writes the ``running`` record (continuing a previous record when resuming), and one
    of ``complete``, ``interrupted``, ``diverged`` or ``failed`` ends it. Only the process given
    ``write=True`` (rank 0) touches the file; every rank keeps the same record in memory.
    """

    def __init__(self, run_dir: Path, write: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.write = write
        self.record: RunRecord | None = None

    def previous(self) -> RunRecord | None:
        """The record already in the run directory, if it is a valid one."""
        try:
            return load_record(self.run_dir)
        except (FileNotFoundError, RecordError):
            return None

    def start(
        self,
        *,
        seed: int,
        choices: dict[str, str],
        objective: dict[str, str],
        resumed_from: int | None = None,
        previous: RunRecord | None = None,
        **extra: Any,
    ) -> RunRecord:
        record = RunRecord(
            status="running",
            iterations=int(resumed_from or 0),
            seed=int(seed),
            choices=dict(choices),
            objective=dict(objective),
            run_dir=str(self.run_dir),
            extra={k: v for k, v in extra.items() if v is not None},
        )
        if resumed_from is not None:
            record.resumed_from = int(resumed_from)
        if resumed_from is not None and previous is not None:
            record.wall_seconds_before = float(previous.wall_seconds) + float(previous.wall_seconds_before or 0.0)
            if previous.cpu_seconds is not None and (
                previous.resumed_from is None or previous.cpu_seconds_before is not None
            ):
                record.cpu_seconds_before = float(previous.cpu_seconds) + float(previous.cpu_seconds_before or 0.0)
            for key in ("metrics", "directions", "info", "evaluated_at", "plot", "sample_grid"):
                setattr(record, key, getattr(previous, key))
            earlier = [*(previous.extra.get("code_before") or []), previous.extra.get("code")]
            earlier = [c for i, c in enumerate(earlier) if c is not None and c not in earlier[:i]]
            earlier = [c for c in earlier if c != record.extra.get("code")]
            if earlier:
                record.extra["code_before"] = earlier
        self.record = record
        self._write()
        return record

    def update(self, **values: Any) -> None:
        """Set record fields (unknown keys go to ``extra``) without writing."""
        assert self.record is not None, "start() first"
        names = {f.name for f in fields(RunRecord)}
        for key, value in values.items():
            if key in names:
                setattr(self.record, key, value)
            else:
                self.record.extra[key] = value

    def finish(self, status: str, **values: Any) -> RunRecord:
        assert self.record is not None, "start() first"
        self.update(status=status, **values)
        self._write()
        return self.record

    def complete(self, **values: Any) -> RunRecord:
        return self.finish("completed", **values)

    def interrupted(self, signal: str, iteration: int | None, **values: Any) -> RunRecord:
        where = f" at iteration {iteration}" if iteration is not None else " during start-up"
        return self.finish("interrupted", signal=signal, reason=f"{signal}{where}", **values)

    def diverged(self, reason: str, iteration: int, **values: Any) -> RunRecord:
        return self.finish("diverged", reason=reason, diverged_at=iteration, **values)

    def failed(self, error: str, **values: Any) -> RunRecord:
        return self.finish("failed", error=error, **values)

    def _write(self) -> None:
        if self.write and self.record is not None:
            write_record(self.run_dir, self.record)
