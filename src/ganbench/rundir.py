"""A run directory has one owner at a time, and its checkpoints are read without running code.

- :class:`RunDirLock`: an exclusive ``flock`` on ``<run dir>/.ganbench.lock``, taken without
  waiting. A second process on the same directory is refused at once, with the holder's pid, host
  and start time. The kernel releases the lock when its process dies (SIGKILL included), so a
  stale lock file never blocks the next run.
- :func:`load_checkpoint`: ``torch.load(weights_only=True)``. A checkpoint that cannot be read
  (truncated, corrupt, or a pickle that would run code) gives a :class:`CheckpointError` naming
  the newest intact ``iterNNNNNN.ckpt`` and the command that resumes from it.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import re
import shlex
import socket
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from ganbench.errors import ConfigError

LOCK_NAME = ".ganbench.lock"


class RunDirBusyError(ConfigError):
    """Another process owns the run directory."""


class CheckpointError(ConfigError):
    """A checkpoint cannot be read safely."""


class RunDirLock:
    """Exclusive ownership of ``run_dir`` while the ``with`` block runs (POSIX ``flock``). A
    directory it created is removed again on release if nothing else was written there (a run
    refused while building leaves no trace)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self._fd: int | None = None
        self._created = False

    def acquire(self) -> None:
        import fcntl

        self._created = not self.run_dir.exists()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = self._holder(fd)
                os.close(fd)
                raise RunDirBusyError(
                    f"{self.run_dir} is in use by another ganbench process ({holder}); wait for it to finish, "
                    "or choose another directory with hydra.run.dir=…"
                ) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:  # not a lock file that its previous owner removed while we opened it
                break
            os.close(fd)
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(holder).encode())
        self._fd = fd

    @staticmethod
    def _holder(fd: int) -> str:
        try:
            data = json.loads(os.pread(fd, 4096, 0) or b"{}")
            return f"pid {data['pid']} on {data['host']}, since {data['since']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "holder unknown"

    def release(self) -> None:
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)  # before unlocking: a waiting opener then sees a new file
        os.close(self._fd)
        self._fd = None
        if self._created:
            with contextlib.suppress(OSError):  # not empty: the run wrote something
                self.run_dir.rmdir()

    def __enter__(self) -> RunDirLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; :class:`CheckpointError` when it cannot be read."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on pickle protocols: the error below says it all
            state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except pickle.UnpicklingError:
        reason = "it holds objects other than tensors and plain containers, whose loading could run code"
        raise CheckpointError(_unreadable_message(path, reason)) from None
    except Exception as err:  # a truncated or garbled file
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise CheckpointError(_unreadable_message(path, f"{type(err).__name__}: {first}".rstrip(": "))) from None
    problem = checkpoint_problem(state)
    if problem:
        raise CheckpointError(_unreadable_message(path, f"it is not a ganbench checkpoint: {problem}"))
    return state


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def checkpoint_problem(state: Any) -> str | None:
    """What a loaded checkpoint lacks, of what resuming reads (Lightning's training state and
    ganbench's own), or None."""
    if not isinstance(state, dict):
        return f"it holds a {type(state).__name__}, not a dict"
    weights = state.get("state_dict")
    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        return "state_dict is missing or holds something other than tensors"
    for key in ("global_step", "epoch"):
        if not _is_int(state.get(key)):
            return f"{key} is missing or not a non-negative integer"
    if not isinstance(state.get("optimizer_states"), list) or not all(
        isinstance(o, dict) for o in state["optimizer_states"]
    ):
        return "optimizer_states is missing or not a list of optimizer states"
    for key in ("loops", "callbacks"):
        if key in state and not isinstance(state[key], dict):
            return f"{key} is not a dict"
    own = state.get("ganbench")
    if not isinstance(own, dict):
        return "ganbench's own state (key 'ganbench') is missing"
    if not _is_int(own.get("iteration")):
        return "ganbench.iteration is missing or not a non-negative integer"
    if own.get("rng") is None:
        return "ganbench.rng (the random streams) is missing"
    return None


def newest_intact_checkpoint(directory: Path) -> Path | None:
    """The newest ``iterNNNNNN.ckpt`` in ``directory`` that loads."""
    for candidate in sorted(Path(directory).glob("iter*.ckpt"), reverse=True):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                state = torch.load(candidate, map_location="cpu", weights_only=True)
        except Exception:
            continue
        if checkpoint_problem(state) is None:
            return candidate
    return None


def _unreadable_message(path: Path, reason: str) -> str:
    run_dir = path.parent.parent
    intact = newest_intact_checkpoint(path.parent)
    if intact is None:
        fix = f"no intact iterNNNNNN.ckpt is beside it: start the run again in a new directory (or delete {path})"
    else:
        cmd = f"cp {shlex.quote(str(intact))} {shlex.quote(str(path))} && {resume_command(run_dir)}"
        fix = f"the newest intact checkpoint is {intact.name}; resume from it with: {cmd}"
    return f"{path} cannot be read safely ({reason}); {fix}"


_HYDRA_ESCAPES = {"'": "\\'", "${": "\\${", "": ""}


def hydra_quoted(value: str) -> str:
    """``value`` as a single-quoted Hydra override value that Hydra's lexer and OmegaConf read back
    unchanged, whatever it holds (spaces, non-ASCII, ``'``, ``"``, ``,``, ``=``, ``[``, ``${``):
    quotes and ``${`` are escaped, and so are the backslashes just before them or at the end."""
    escaped = re.sub(r"(\\*)('|\$\{|$)", lambda m: m.group(1) * 2 + _HYDRA_ESCAPES[m.group(2)], value)
    return f"'{escaped}'"


def override_argument(key: str, value: str) -> str:
    """``key=value`` as one shell word that reaches Hydra as exactly ``value``."""
    return shlex.quote(f"{key}={hydra_quoted(value)}")


def resume_command(run_dir: Path) -> str:
    """The shell command that resumes ``run_dir``, quoted for the shell and for Hydra (any path)."""
    return f"ganbench-train {override_argument('resume', str(run_dir))}"
