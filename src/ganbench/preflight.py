"""Checks of the command line and of the output directory that run before Hydra acts on them.

Hydra creates the run directory before the job starts, and looks up an override key as a config
group file: a run directory that is a file or cannot be written, and an absurdly long key, would
end in a traceback. Each is refused here in one line, with exit status 2, and nothing written.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from hydra.experimental.callback import Callback
from omegaconf import OmegaConf

from ganbench.config import override_key

_STARTED = time.time() - 1.0  # before Hydra creates any directory (with slack for coarse timestamps)
MAX_KEY_LENGTH = 255  # a config group file name at most (a longer key is never a real one)


def refuse(message: str) -> NoReturn:
    print(f"ganbench: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def command_line_problem(arguments: Sequence[str]) -> str | None:
    """What makes the command line unusable before Hydra parses it, or None."""
    for argument in arguments:
        if argument.startswith("-"):
            continue
        key = override_key(argument)
        if len(key) > MAX_KEY_LENGTH:
            return (
                f"an override key of {len(key):,} characters ({key[:40]}…) is no config key "
                f"(at most {MAX_KEY_LENGTH}); check the command line"
            )
    return None


def directory_problem(path: Path, name: str, fix: str) -> str | None:
    """Why ``path`` (called ``name``) cannot be created and written as a run directory, or None;
    ``fix`` says what to do instead."""
    if path.exists() and not path.is_dir():
        return f"{name}{path} is a file, not a directory; {fix}"
    missing = first_missing(path)
    existing = path if missing is None else missing.parent  # the nearest directory that exists
    if not existing.is_dir():
        return f"{name}{path} cannot be created: {existing} is a file; {fix}"
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "is read-only" if existing == path else f"cannot be created ({existing} is read-only)"
        return f"{name}{path} {where}; {fix}"
    return None


# run directory -> the topmost of its directories that did not exist before Hydra created it
_NEW_RUN_DIRECTORIES: dict[Path, Path | None] = {}


def first_missing(path: Path) -> Path | None:
    """The topmost directory of ``path`` (itself included) that does not exist yet, or None."""
    missing = None
    while not path.exists() and path != path.parent:
        missing, path = path, path.parent
    return missing


def remove_new_run_directory(run_dir: Path) -> None:
    """Remove ``run_dir`` of a refused run, and the parents Hydra created for it, while they are
    empty. Directories that existed before the run (the user's, or a sweep's) stay."""
    path = run_dir.absolute()
    top = _NEW_RUN_DIRECTORIES.get(path)
    if top is None:  # existing when checked: new all the same if made since this process started (a
        try:  # sweep's job directory; or another task of `srun -n2` created it first)
            if path.stat().st_ctime < _STARTED:
                return
        except OSError:
            return
        top = path
    while True:
        try:
            path.rmdir()
        except OSError:
            return  # not empty (another run wrote there meanwhile) or already gone
        if path == top:
            return
        path = path.parent


class OutputDirectoryCheck(Callback):
    """Hydra callback: refuse, in one line, a run or sweep directory that cannot be written,
    before Hydra creates it."""

    def on_run_start(self, config: Any, **kwargs: Any) -> None:
        run_dir = Path(str(OmegaConf.select(config, "hydra.run.dir"))).absolute()
        if OmegaConf.select(config, "resume", default=None):
            name, fix = (
                "resume=",
                "give the directory of a ganbench run; a resumed run writes there, so it must be writable",
            )
        else:
            name, fix = "run directory ", "choose a writable one with hydra.run.dir=…"
        self._check(run_dir, name, fix)
        _NEW_RUN_DIRECTORIES[run_dir] = first_missing(run_dir)

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        sweep_dir = Path(str(OmegaConf.select(config, "hydra.sweep.dir"))).absolute()
        self._check(sweep_dir, "sweep directory ", "choose a writable one with hydra.sweep.dir=…")

    @staticmethod
    def _check(path: Path, name: str, fix: str) -> None:
        problem = directory_problem(path, name, fix)
        if problem:
            refuse(problem)
