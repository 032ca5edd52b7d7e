"""``ganbench-study``: the two-stage protocol of Lucic et al. 2018 in one resumable command.

Stage 1 (search): for every dataset and loss, ``trials`` runs of one seed each, their
hyperparameters drawn by the Optuna sweeper from the loss's search space
(``conf/hparams_search/``), all at the same iteration budget. Optuna's storage is one SQLite file
in the study directory, one study per (dataset, loss).

Stage 2 (seeds): the best ``top_k`` configurations of each (dataset, loss), by the run records'
``optimized_metric`` and its declared direction, re-run on the ``seeds``.

Stage 3 (ablations, optional): the best configuration of each (dataset, loss) re-run on the same
seeds with one change each ablation names, e.g. ``regularizer=none``: whether the penalty a loss's
search chose, rather than the loss, explains the differences. An ablation whose change the best
configuration already has (its penalty is already none) runs nothing.

``--status`` says how many runs of each stage have ended against how many are planned, also
while the study runs, and estimates the time left from the runs that ended. Rerunning the command
skips what is done: the search runs only the trials still missing, a seed or ablation stage whose
runs all completed with the same overrides is not launched again, and a seed run whose directory
holds a completed record returns at once (the run directories are named by trial and seed).
Diverged and failed trials count at the worst value and stay in the study.
With ``parallel: N``, N (dataset, loss) pipelines (search, then seeds, then ablations) run at
once, each pinned to its share of the cores: a lane never waits for another, where a search running
N trials at once (``hydra.sweeper.n_jobs=N``) waits for the slowest of each batch of N before it
asks for the next. Each (dataset, loss) draws the same candidates either way.
Then ``ganbench-compare`` reads the study: the search runs give the budget curves, the seed runs
the tuned table, intervals and tests (the commands are printed at the end).

The study file (YAML)::

    name: toy                      # also the W&B group
    datasets: [ring, grid]
    trials: 25                     # stage 1, per (dataset, loss)
    top_k: 1                       # stage 2: configurations per (dataset, loss) …
    seeds: [100, 101, 102, 103, 104, 105, 106, 107, 108, 109]   # … each re-run on these (default: 100-109)
    search_seed: 0                 # optional: each (dataset, loss)'s sampler seed is derived from it
    share_candidates: false        # optional: true gives every (dataset, loss) the same candidates
    alpha: 0.05                    # optional: the level the seed stage's tests must be able to reach …
    allow_underpowered: false      # … or the study is refused (true: run it anyway)
    overrides: [iterations=10000, eval.every=2500]   # for every run
    launcher: [hydra/launcher=joblib]                  # optional: how each sweep runs its jobs
    search_overrides: [hydra.sweeper.n_jobs=2]         # optional: for the searches only (trials at once)
    parallel: 1                    # optional: (dataset, loss) pipelines at once, each on its own cores
    ablations:                                         # optional: the best configuration again, changed
      no_penalty: [regularizer=none]                   #   <dataset>/<loss>/ablations/no_penalty/s<seed>
    losses:
      nonsaturating: {search: sigmoid}
      minimax: {search: sigmoid, overrides: [loss=minimax]}
      wasserstein: {search: wasserstein}
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import functools
import hashlib
import json
import math
import os
import re
import shlex
import signal
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import yaml
from omegaconf import OmegaConf

from ganbench.config import FIRST_TRIAL, override_key
from ganbench.console import print_result
from ganbench.process_guard import GuardedProcess, StopRequestedError, close_all, stop_signals_raise
from ganbench.search_space import penalty_overrides
from ganbench.summary import FAILURES, atomic_write_text, load_record, run_wall_seconds

STORAGE = "optuna.db"
LOCK = ".study.lock"
LOCK_WAIT_SECONDS = 10.0
DEFAULT_SEEDS = list(range(100, 110))  # the seed stage: 10 seeds per group unless the study names its own
ALPHA = 0.05


class StudyError(ValueError):
    """A study file that cannot work."""


def load_study_file(path: Path) -> dict[str, Any]:
    try:
        spec = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    except Exception as err:
        raise StudyError(f"{path}: cannot be read ({err})") from None
    if not isinstance(spec, dict):
        raise StudyError(f"{path}: not a mapping of study settings (see `ganbench-study --help`)")
    required = ("name", "datasets", "trials", "top_k", "losses")
    missing = [k for k in required if k not in spec]
    if missing:
        raise StudyError(f"{path}: missing {', '.join(missing)} (see `ganbench-study --help`)")
    spec.setdefault("seeds", list(DEFAULT_SEEDS))
    if int(spec["top_k"]) > int(spec["trials"]):
        raise StudyError(f"{path}: top_k={spec['top_k']} is more than trials={spec['trials']}")
    if not isinstance(spec["losses"], dict) or not spec["losses"]:
        raise StudyError(f"{path}: losses must map each loss to its search, e.g. `hinge: {{search: hinge}}`")
    for loss, entry in spec["losses"].items():
        if not isinstance(entry, dict) or "search" not in entry:
            raise StudyError(f"{path}: losses.{loss} needs `search: <file of conf/hparams_search/>`")
    ablations = spec.get("ablations") or {}
    if not isinstance(ablations, dict) or not all(
        re.fullmatch(r"[A-Za-z0-9_]+", str(name)) and isinstance(changes, list) and changes
        and all(isinstance(o, str) and "=" in o for o in changes)
        for name, changes in ablations.items()
    ):  # fmt: skip
        raise StudyError(
            f"{path}: ablations must map a name (letters, digits, _) to a list of overrides, "
            "e.g. `ablations: {{no_penalty: [regularizer=none]}}`"
        )
    parallel = spec.get("parallel", 1)
    if isinstance(parallel, bool) or not isinstance(parallel, int) or parallel < 1:
        raise StudyError(f"{path}: parallel={parallel!r}: give how many (dataset, loss) pipelines run at once, e.g. 2")
    problem = design_problem(spec)
    if problem and not spec.get("allow_underpowered", False):
        raise StudyError(f"{path}: {problem}; or set `allow_underpowered: true`")
    return spec


def design_problem(spec: dict[str, Any]) -> str | None:
    """Why the study's design cannot reach significance, or None when it can.

    The seed stage compares the losses of each dataset pairwise, with exact two-sided Mann–Whitney
    tests Holm-corrected over the pairs (``ganbench-compare``). With g groups of n runs each
    (``top_k`` configurations × the seeds), the smallest Holm-adjusted p any data can give is
    C(g, 2) · 2 / C(2n, n) (:func:`ganbench.statistics.smallest_holm_p`)."""
    from ganbench.statistics import seeds_needed, smallest_holm_p  # scipy: imported when needed

    groups = len(spec["losses"])
    per_group = int(spec["top_k"]) * len(spec["seeds"])
    alpha = float(spec.get("alpha", ALPHA))
    if groups < 2:
        return None
    p = smallest_holm_p(groups, per_group)
    if p <= alpha:
        return None
    return (
        f"{per_group} runs per loss cannot reach significance: with {groups} losses the smallest "
        f"Holm-adjusted p an exact Mann-Whitney test can give is {p:.3g} > alpha {alpha:g}; "
        f"use at least {seeds_needed(groups, alpha, int(spec['top_k']))} seeds"
    )


class StudyRunError(RuntimeError):
    """A ``ganbench-train`` sweep of the study that did not run (a refused config, a crash): the
    study stops there instead of going on without its runs."""

    def __init__(self, name: str, code: int, log: Path) -> None:
        self.code = code
        try:
            said = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            said = []
        last = next((line for line in reversed(said) if line.startswith("ganbench")), said[-1] if said else "")
        super().__init__(f"{name}: ganbench-train exited {code}: {last.strip()} (the whole output: {log})")


def _load_optuna_study(storage: Path, study_name: str) -> Any:
    """The Optuna study ``study_name`` of the SQLite ``storage``, or None when there is none yet."""
    if not storage.is_file():
        return None
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return optuna.load_study(study_name=study_name, storage=f"sqlite:///{storage}")
    except KeyError:  # no such study yet
        return None


def _trials_done(storage: Path, study_name: str) -> int:
    """Finished trials (complete, or failed) of ``study_name`` in the SQLite ``storage``."""
    return _trial_counts(storage, study_name)[0]


def _trial_counts(storage: Path, study_name: str) -> tuple[int, int]:
    """(finished trials: complete or failed, all trials: pruned and running included) of
    ``study_name`` in the SQLite ``storage``."""
    study = _load_optuna_study(storage, study_name)
    if study is None:
        return 0, 0
    import optuna

    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL)
    return sum(t.state in finished for t in study.trials), len(study.trials)


def _finished_trial_numbers(storage: Path, study_name: str) -> set[int]:
    """The numbers of the finished (complete or failed) trials of ``study_name``."""
    study = _load_optuna_study(storage, study_name)
    if study is None:
        return set()
    import optuna

    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL)
    return {t.number for t in study.trials if t.state in finished}


def create_storage(storage: Path) -> None:
    """Create the SQLite ``storage`` and its tables, if not yet there: the searches that run side by side
    (``parallel``) then only add to it (two creating it at once collide on its schema version)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.storages.RDBStorage(f"sqlite:///{storage}").remove_session()


def abandon_running_trials(storage: Path) -> int:
    """Mark every RUNNING trial of ``storage`` PRUNED; the number marked.

    Called by the study directory's owner (the lock is held) when no search runs: a RUNNING trial
    is then one whose run was stopped before it reported. PRUNED trials do not count towards the
    trial budget (COMPLETE and FAIL do), so the search asks for another trial in its place and
    each (dataset, loss) ends with exactly ``trials`` finished trials."""
    if not storage.is_file():
        return 0
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rdb = optuna.storages.RDBStorage(f"sqlite:///{storage}")
    marked = 0
    for summary in rdb.get_all_study_summaries():
        study_id = rdb.get_study_id_from_name(summary.study_name)
        for trial in rdb.get_all_trials(study_id, deepcopy=False):
            if trial.state == optuna.trial.TrialState.RUNNING:
                trial_id = rdb.get_trial_id_from_study_id_trial_number(study_id, trial.number)
                rdb.set_trial_state(trial_id, optuna.trial.TrialState.PRUNED)
                marked += 1
    rdb.remove_session()
    return marked


def sampler_seed(study_seed: int, dataset: str, loss: str, done: int = 0) -> int:
    """The random sampler's seed of one (dataset, loss) search, from the study's ``search_seed``:
    a stable hash (SHA-256, not Python's salted ``hash``), so that each (dataset, loss) draws its
    own candidate sequence and a rerun draws the same ones. ``done`` (the trials finished before
    this pass) gives a resumed search new draws instead of repeating the first ones."""
    text = f"{int(study_seed)}/{dataset}/{loss}/{int(done)}".encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:4], "big") >> 1  # < 2**31: any numpy seed


def records(directory: Path) -> list[tuple[Path, dict[str, Any]]]:
    """(run directory, record) of every valid run record under ``directory``."""
    out = []
    for path in sorted(directory.rglob("summary.json")):
        try:
            out.append((path.parent, load_record(path.parent).to_dict()))
        except ValueError:
            continue
    return out


def optuna_trial_number(run_dir: Path) -> int | None:
    """The Optuna trial number of a search run of a study, ``search/from<N>/<job>``: a pass that
    starts with N trials in the storage asks trials N, N + 1, … for its jobs 0, 1, …"""
    match = re.fullmatch(r"from(\d+)", run_dir.parent.name)
    if match is None or not run_dir.name.isdigit():
        return None
    return int(match.group(1)) + int(run_dir.name)


def best_trials(
    directory: Path, metric: str | None, k: int, counted: set[int] | None = None
) -> list[tuple[Path, dict[str, Any]]]:
    """The ``k`` best completed search runs under ``directory`` by ``metric`` (the record's
    declared direction); failed and diverged runs rank last and are never chosen. With
    ``counted`` (the Optuna numbers of the finished trials), only those trials' runs are candidates:
    a run whose trial was stopped before it reported is not part of the budget."""
    scored = []
    for run_dir, record in records(directory):
        if counted is not None and optuna_trial_number(run_dir) not in counted:
            continue
        name = metric or _optimized_metric(run_dir) or next(iter(record.get("directions") or {}), None)
        value = (record.get("metrics") or {}).get(name)
        if record["status"] in FAILURES or record["status"] != "completed" or not isinstance(value, (int, float)):
            continue
        if not math.isfinite(value):
            continue
        sign = -1.0 if (record.get("directions") or {}).get(name) == "max" else 1.0
        scored.append((sign * value, str(run_dir), run_dir, record))
    scored.sort(key=lambda s: (s[0], s[1]))
    return [(run_dir, record) for _, _, run_dir, record in scored[:k]]


def _optimized_metric(run_dir: Path) -> str | None:
    """The ``optimized_metric`` a search run returned to its sweeper (its ``config.yaml``)."""
    try:
        value = OmegaConf.select(OmegaConf.load(run_dir / "config.yaml"), "optimized_metric", default=None)
    except (OSError, ValueError):
        return None
    return str(value) if value else None


def trial_overrides(record: dict[str, Any], trial_dir: Path | None = None) -> list[str]:
    """The sampled values of a search trial, as command-line overrides: from the trial's own
    ``.hydra/overrides.yaml`` (the overrides of the sweeper's ``params``, config-group choices such
    as ``+optimizer/scheduler=linear`` included) when ``trial_dir`` holds it, else from its record.
    A searched penalty (``regularizer.kind``, ``regularizer.weight``) becomes the plain
    ``regularizer=…`` option with its weight (:func:`ganbench.search_space.penalty_overrides`)."""
    picked: list[str] = []
    if trial_dir is not None:
        try:
            params = OmegaConf.load(trial_dir / ".hydra" / "hydra.yaml").hydra.sweeper.params or {}
            overrides = list(OmegaConf.load(trial_dir / ".hydra" / "overrides.yaml"))
        except (OSError, ValueError, AttributeError):
            params, overrides = {}, []
        keys = {override_key(str(p)) for p in params}
        picked = [str(o) for o in overrides if override_key(str(o)) in keys]
    if not picked:
        trial = record.get("trial") or {}
        picked = [f"{key}={value}" for key, value in (trial.get("params") or {}).items()]
    values = {override_key(o): o.split("=", 1)[1] for o in picked}
    if "regularizer.kind" not in values:
        return picked
    rest = [o for o in picked if override_key(o) not in ("regularizer.kind", "regularizer.weight")]
    return [*rest, *penalty_overrides(values["regularizer.kind"], values.get("regularizer.weight"))]


def seed_run_overrides(search_overrides: Sequence[str], record: dict[str, Any]) -> list[str]:
    """The overrides that rebuild a search trial's setting without the search: the loss and
    regularizer options the search file selected (from the trial's record), D's betas tied to G's
    as in every search file, and the study's other overrides for this loss."""
    choices = record.get("choices") or {}
    kept = [
        o
        for o in search_overrides
        if not o.startswith(("hparams_search=", "loss=", "regularizer=", "+loss=", "+regularizer="))
    ]
    picked = [f"{group}={choices[group]}" for group in ("loss", "regularizer") if group in choices]
    return [*kept, *picked, "optimizer.discriminator.betas=${optimizer.generator.betas}"]


def mark_best_in_wandb(trial_dir: Path, study: str, rank: int) -> str | None:
    """Mark a search trial's W&B run as the best (``rank`` 1) of its loss: ``best_trial``,
    ``best_trial_rank`` and ``study`` in the run summary. The run is resumed by its id, online or
    offline as it ran (an offline update is uploaded by the same ``wandb sync`` as the run).
    Returns the run id, or None when the trial logged no W&B run."""
    found = sorted(trial_dir.glob("wandb/*run-*/run-*.wandb"), key=lambda p: p.stat().st_mtime)
    if not found:
        return None
    run_id = found[0].stem.removeprefix("run-")
    offline = found[0].parent.name.startswith("offline-run-")
    marker = trial_dir / "wandb" / "best_trial.json"
    mark = {"run_id": run_id, "study": study, "rank": rank}
    if marker.is_file() and json.loads(marker.read_text()) == mark:
        return run_id  # marked by an earlier pass of the study
    settings = OmegaConf.select(OmegaConf.load(trial_dir / "config.yaml"), "logger.wandb", default=None) or {}
    import wandb

    run = wandb.init(
        id=run_id,
        resume="allow",
        project=settings.get("project") or "ganbench",
        entity=settings.get("entity"),
        dir=str(trial_dir),
        mode="offline" if offline else "online",
        settings=wandb.Settings(silent=True, console="off"),
    )
    run.summary.update({"best_trial": rank == 1, "best_trial_rank": rank, "study": study})
    run.finish()
    atomic_write_text(marker, json.dumps(mark) + "\n")
    return run_id


def _search_seed(spec: dict[str, Any], dataset: str, loss: str, done: int) -> int:
    """The sampler seed of one search pass: independent per (dataset, loss) by default
    (:func:`sampler_seed`); with ``share_candidates: true`` every (dataset, loss) draws the same
    sequence (``search_seed`` + trials done)."""
    seed = int(spec.get("search_seed", 0))
    if spec.get("share_candidates", False):
        return seed + done
    return sampler_seed(seed, dataset, loss, done)


class StudyBusyError(RuntimeError):
    """Another process owns the study directory."""


@contextlib.contextmanager
def owning(root: Path, wait: float | None = None) -> Any:
    """Hold the study directory's lock (``.study.lock``, ``flock``) while inside; raises
    :class:`StudyBusyError` when another ``ganbench-study`` keeps it for ``wait`` seconds
    (``LOCK_WAIT_SECONDS``: time for a study just stopped to finish stopping its runs)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / LOCK, "a") as handle:
        deadline = time.monotonic() + (LOCK_WAIT_SECONDS if wait is None else wait)
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    message = f"{root} is in use by another ganbench-study; wait for it to end, or stop it"
                    raise StudyBusyError(message) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_study(spec: dict[str, Any], root: Path, dry_run: bool = False) -> list[str]:
    """Run (or continue) every stage; return the ganbench-compare commands for the results.

    The caller owns ``root`` (:func:`owning`). Trials left RUNNING by a stopped earlier pass are
    marked PRUNED first, and again when this pass is interrupted or a sweep fails
    (:func:`abandon_running_trials`)."""
    root.mkdir(parents=True, exist_ok=True)
    storage = (root / STORAGE).resolve()
    if not dry_run:
        create_storage(storage)
        abandon_running_trials(storage)
    pipelines = [
        _pipeline(spec, root, storage, str(dataset), str(loss), entry, write=not dry_run)
        for dataset in spec["datasets"]
        for loss, entry in spec["losses"].items()
    ]
    try:
        if dry_run:
            for pipeline in pipelines:
                for _ in pipeline:
                    pass
        else:
            _run_in_lanes(pipelines, lanes(int(spec.get("parallel", 1))))
    except (StopRequestedError, StudyRunError):  # every sweep stopped: the trials they ran did not report
        abandon_running_trials(storage)
        raise
    return _compare_commands(spec, root)


@dataclass
class Sweep:
    """One ``ganbench-train`` sweep of a study: the (dataset, loss) it belongs to, its arguments and
    its log, and what to write just before it starts."""

    name: str
    args: list[str]
    log: Path
    before: Callable[[], None] = lambda: None


def lanes(parallel: int) -> list[set[int] | None]:
    """The cores of each of ``parallel`` lanes: this process's cores dealt out in turn (lane i gets
    cores i, i + n, …), so that each lane's runs have their own share; ``[None]`` (no pinning) for one
    lane. No more lanes than cores."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    n = min(max(1, parallel), len(cores)) if cores else 1
    if n == 1:
        return [None]
    return [set(cores[i::n]) for i in range(n)]


def _run_in_lanes(pipelines: Sequence[Iterator[Sweep]], cores: Sequence[set[int] | None]) -> None:
    """Run the sweeps of ``pipelines``, each pipeline's in order, up to ``len(cores)`` pipelines at
    once: a lane takes the next pipeline when its own has no sweep left, and its sweeps run on its
    cores. A failed sweep stops the others and raises :class:`StudyRunError`; SIGTERM or SIGINT stops
    every sweep and raises :class:`StopRequestedError`."""
    waiting = list(pipelines)
    current: list[Iterator[Sweep] | None] = [None] * len(cores)
    running: dict[int, tuple[Sweep, GuardedProcess, IO[str]]] = {}

    def start_next(lane: int) -> None:
        while True:
            if current[lane] is None:
                if not waiting:
                    return
                current[lane] = waiting.pop(0)
            sweep = next(current[lane], None)
            if sweep is None:
                current[lane] = None
                continue
            sweep.before()
            out = _open_log(sweep)
            args = [sys.executable, "-m", "ganbench.train", *sweep.args]
            running[lane] = (sweep, GuardedProcess(args, out, cpus=cores[lane]), out)
            return

    with stop_signals_raise():
        try:
            for lane in range(len(cores)):
                start_next(lane)
            while running:
                for lane, (sweep, process, out) in list(running.items()):
                    code = process.poll()
                    if code is None:
                        continue
                    out.close()
                    del running[lane]
                    if code != 0:
                        raise StudyRunError(sweep.name, code, sweep.log)
                    start_next(lane)
                if running:
                    time.sleep(0.5)
        finally:
            close_all([process for _, process, _ in running.values()])
            for _, _, out in running.values():
                out.close()


def _open_log(sweep: Sweep) -> IO[str]:
    """The sweep's log, opened for appending, with the command written first."""
    sweep.log.parent.mkdir(parents=True, exist_ok=True)
    out = open(sweep.log, "a")  # noqa: SIM115 (closed when the sweep ends)
    out.write("$ ganbench-train " + " ".join(shlex.quote(a) for a in sweep.args) + "\n")
    out.flush()
    return out


def _pipeline(
    spec: dict[str, Any], root: Path, storage: Path, dataset: str, loss: str, entry: dict[str, Any], write: bool
) -> Iterator[Sweep]:
    """The sweeps of one (dataset, loss), in order: its search (the trials still missing), the seed
    runs of its best trials, its ablations. Each is yielded once the previous one has ended, so that
    what follows a search is chosen from its finished trials; a stage whose runs all completed is
    skipped (its ``trial.json`` brought up to date, unless ``write`` is False). A dry run only reads
    the sweeps: what they would run is said, nothing is written."""
    common = [*map(str, spec.get("overrides") or []), *map(str, spec.get("launcher") or [])]
    if spec.get("optimized_metric"):  # the search optimises what the seeds stage ranks by
        common.append(f"optimized_metric={spec['optimized_metric']}")
    wandb = ["logger.wandb.group=" + str(spec["name"])] if any(o == "logger=wandb" for o in common) else []
    base = _base_overrides(dataset, entry)
    where = root / dataset / loss
    name = f"{dataset}-{loss}"
    log = root / "logs" / f"{name}.log"
    done, asked = _trial_counts(storage, name)
    missing = int(spec["trials"]) - done
    if missing > 0:
        args = [
            "-m", *base, *common, *wandb,
            f"hydra.sweeper.n_trials={missing}",
            f"hydra.sweeper.storage=sqlite:///{storage}",
            f"hydra.sweeper.study_name={name}",
            f"hydra.sweeper.sampler.seed={_search_seed(spec, dataset, loss, done)}",
            f"hydra.sweep.dir={where / 'search' / f'from{asked:04d}'}",  # a new directory per pass
            f"+hydra.job.env_set.{FIRST_TRIAL}={asked}",  # its job j is Optuna's trial asked + j
            "hydra.sweep.subdir=${hydra.job.num}",
            *map(str, spec.get("search_overrides") or []),
        ]  # fmt: skip
        if wandb:
            args.append("logger.wandb.job_type=search")
        print(f"ganbench-study: {name}: search, {missing} of {spec['trials']} trials to run", flush=True)
        yield Sweep(name, args, log)
    counted = _finished_trial_numbers(storage, name)
    chosen = best_trials(where / "search", spec.get("optimized_metric"), int(spec["top_k"]), counted)
    seeds = ",".join(str(int(s)) for s in spec["seeds"])
    for rank, (trial_dir, record) in enumerate(chosen):
        setting, trial = rerun_setting(base, trial_dir, record)
        target = where / "seeds" / f"top{rank + 1}"
        args = _rerun_args([*setting, *common, *wandb, *trial], seeds, target)
        if wandb:
            args.append("logger.wandb.job_type=seeds")
        number = _trial_number(trial_dir, record)
        stage = f"{name}: seeds of trial {number} (rank {rank + 1})"
        if stage_completed(args, target, spec["seeds"]):
            if write:
                _write_trial(target, trial_dir, record, only_if_changed=True)
            print(f"ganbench-study: {stage}: all {len(spec['seeds'])} runs completed", flush=True)
        else:
            print(f"ganbench-study: {stage}", flush=True)

            group = str(spec["name"]) if wandb else None
            yield Sweep(
                name, args, log, functools.partial(_prepare_seed_stage, target, trial_dir, record, rank + 1, group)
            )
        if rank > 0:
            continue
        for ablation, changes in (spec.get("ablations") or {}).items():
            changes = [str(o) for o in changes]
            target = where / "ablations" / str(ablation)
            kept = [*setting, *trial]
            if already_has(kept, changes):
                print(f"ganbench-study: {name}: ablation {ablation}: trial {number} already has "
                      f"{' '.join(changes)}; nothing to run", flush=True)  # fmt: skip
                continue
            args = _rerun_args([*ablated([*kept, *common], changes), *wandb, *changes], seeds, target)
            if wandb:
                args.append("logger.wandb.job_type=ablation")
            stage = f"{name}: ablation {ablation} of trial {number}"
            if stage_completed(args, target, spec["seeds"]):
                if write:
                    _write_trial(target, trial_dir, record, only_if_changed=True, ablation=changes)
                print(f"ganbench-study: {stage}: all {len(spec['seeds'])} runs completed", flush=True)
                continue
            print(f"ganbench-study: {stage}", flush=True)

            yield Sweep(name, args, log, functools.partial(_write_trial, target, trial_dir, record, ablation=changes))


def _prepare_seed_stage(target: Path, trial_dir: Path, record: dict[str, Any], rank: int, group: str | None) -> None:
    """Before the seed runs of a trial: its ``trial.json``, and (``group``: the study logs to W&B) the
    trial's W&B run marked as the best of that rank."""
    _write_trial(target, trial_dir, record)
    if group is not None:
        mark_best_in_wandb(trial_dir, group, rank)


def _compare_commands(spec: dict[str, Any], root: Path) -> list[str]:
    """The ganbench-compare commands that read the study's results."""
    q = shlex.quote(str(root))
    return [
        f"ganbench-compare {q}/*/*/search --by dataset,loss --out {shlex.quote(str(root / 'search'))}",
        f"ganbench-compare {q}/*/*/seeds --by dataset,loss --out {shlex.quote(str(root / 'tuned'))} "
        f"--search {q}/*/*/search",
        *(
            f"ganbench-compare {q}/*/*/seeds {q}/*/*/ablations/{name} "
            f"--by {','.join(['dataset', 'loss', *dict.fromkeys(override_key(o) for o in changes)])} "
            f"--out {shlex.quote(str(root / str(name)))}"
            for name, changes in (spec.get("ablations") or {}).items()
        ),
    ]


def _base_overrides(dataset: str, entry: dict[str, Any]) -> list[str]:
    """The overrides of one (dataset, loss) of the study: its data, its search space, its own."""
    return [f"dataset={dataset}", f"hparams_search={entry['search']}", *map(str, entry.get("overrides") or [])]


def rerun_setting(base: Sequence[str], trial_dir: Path, record: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(the (dataset, loss)'s setting without the search, the trial's sampled values): together,
    the overrides that re-run a search trial on other seeds."""
    trial = trial_overrides(record, trial_dir)
    setting = seed_run_overrides(base, record)
    # a searched penalty names its own option, which replaces the group's settings
    return ablated(setting, [o for o in trial if o.startswith("regularizer=")]), trial


def already_has(overrides: Sequence[str], changes: Sequence[str]) -> bool:
    """Whether an ablation's ``changes`` are all among ``overrides`` already (nothing to run)."""
    return all(o in overrides for o in changes)


def _finished_runs(directory: Path) -> tuple[int, int]:
    """(runs that ended: completed, diverged or failed; of them, diverged or failed) under ``directory``."""
    ended = [r["status"] for _, r in records(directory) if r["status"] in ("completed", *FAILURES)]
    return len(ended), sum(s in FAILURES for s in ended)


def study_status(spec: dict[str, Any], root: Path) -> list[dict[str, Any]]:
    """Where a study stands, read without taking the study directory (it may be running): per
    (dataset, loss), ``stages`` maps each stage (``search``, ``seeds``, each ablation) to (runs
    ended, runs planned, of them diverged or failed). An ablation's plan is 0 once the search has
    chosen a best setting that already has the ablation's change, and ``None`` (up to the seed
    count) while the search runs."""
    storage = (root / STORAGE).resolve()
    n_seeds = len(spec["seeds"])
    rows = []
    for dataset in spec["datasets"]:
        for loss, entry in spec["losses"].items():
            name, where = f"{dataset}-{loss}", root / str(dataset) / str(loss)
            counted = _finished_trial_numbers(storage, name)
            searched = [r for run_dir, r in records(where / "search") if optuna_trial_number(run_dir) in counted]
            failed = sum(r["status"] in FAILURES for r in searched)
            stages: dict[str, tuple[int, int | None, int]] = {"search": (len(counted), int(spec["trials"]), failed)}
            ended, bad = _finished_runs(where / "seeds")
            stages["seeds"] = (ended, int(spec["top_k"]) * n_seeds, bad)
            chosen = best_trials(where / "search", spec.get("optimized_metric"), 1, counted)
            kept = None
            if chosen and len(counted) >= int(spec["trials"]):
                setting, trial = rerun_setting(_base_overrides(str(dataset), entry), *chosen[0])
                kept = [*setting, *trial]
            for ablation, changes in (spec.get("ablations") or {}).items():
                ended, bad = _finished_runs(where / "ablations" / str(ablation))
                planned = None if kept is None else (0 if already_has(kept, [str(o) for o in changes]) else n_seeds)
                stages[str(ablation)] = (ended, planned, bad)
            rows.append({"dataset": str(dataset), "loss": str(loss), "stages": stages})
    return rows


def status_text(spec: dict[str, Any], root: Path) -> str:
    """:func:`study_status` as a table, with the runs ended against the runs planned in all."""
    rows = study_status(spec, root)
    stages = list(rows[0]["stages"]) if rows else []
    ended = sum(r["stages"][st][0] for r in rows for st in stages)
    planned = sum(r["stages"][st][1] or 0 for r in rows for st in stages)
    unknown = sum(len(spec["seeds"]) for r in rows for st in stages if r["stages"][st][1] is None)

    def cell(stage: tuple[int, int | None, int]) -> str:
        ended, planned, bad = stage
        text = f"{ended}/{planned}" if planned is not None else f"{ended}/≤{len(spec['seeds'])}"
        return text + (f" ({bad} diverged or failed)" if bad else "")

    table = [["dataset", "loss", *stages]] + [[r["dataset"], r["loss"], *map(cell, r["stages"].values())] for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in table]
    total = f"{ended} of {planned} runs ended" + (
        f" (+ up to {unknown} for ablations not planned yet)" if unknown else ""
    )
    return "\n".join(
        [f"study {spec['name']} in {root}: {total}", *lines, *time_left(spec, root, planned - ended, unknown)]
    )


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min"


def runs_at_once(spec: dict[str, Any]) -> tuple[int, str] | None:
    """How many runs the study runs at once, and what says so: its ``parallel`` lanes, each running
    the search's ``hydra.sweeper.n_jobs=N`` trials at once (1 without it). None for one run at a time."""
    n_jobs = 1
    for override in spec.get("search_overrides") or []:
        key, _, value = str(override).partition("=")
        if key.strip() == "hydra.sweeper.n_jobs" and value.strip().isdigit() and int(value) > 0:
            n_jobs = int(value)
    parallel = len(lanes(int(spec.get("parallel", 1))))  # no more lanes than cores
    said = [f"parallel: {parallel}"] * (parallel > 1) + ["hydra.sweeper.n_jobs"] * (n_jobs > 1)
    return (parallel * n_jobs, ", ".join(said)) if parallel * n_jobs > 1 else None


def time_left(spec: dict[str, Any], root: Path, left: int, unknown: int = 0) -> list[str]:
    """The line estimating what is left: the runs not ended yet at the median wall time of the runs
    that ended (every stage's runs have the study's iteration budget), and, with the search's
    ``hydra.sweeper.n_jobs``, at that many runs at a time. No line before a run has ended or once
    none is left."""
    walls = [
        run_wall_seconds(r) for _, r in records(root) if r["status"] in ("completed", *FAILURES) and "wall_seconds" in r
    ]
    if not walls or (left <= 0 and not unknown):
        return []
    each = statistics.median(walls)
    text = f"time: a run took a median of {_hours(each)} (wall time, over the {len(walls)} runs ended)"
    if left > 0:
        text += f"; the {left} runs left take about {_hours(left * each)} of run time"
        at_once = runs_at_once(spec)
        if at_once:
            text += f", {_hours(left * each / at_once[0])} at {at_once[0]} at a time ({at_once[1]})"
    if unknown:
        text += f"; the ablations not planned yet, up to {_hours(unknown * each)} more of run time"
    return [text]


def _rerun_args(overrides: Sequence[str], seeds: str, directory: Path) -> list[str]:
    """The ``ganbench-train`` arguments that run ``overrides`` once per seed of ``seeds`` (``100,101,…``)
    in ``directory``/s<seed>."""
    return ["-m", *overrides, f"seed={seeds}", f"hydra.sweep.dir={directory}", "hydra.sweep.subdir=s${seed}"]


def stage_completed(args: Sequence[str], directory: Path, seeds: Sequence[Any]) -> bool:
    """Whether every run of a seed or ablation stage (``args``: its ``ganbench-train -m`` arguments,
    from :func:`_rerun_args`) already completed with exactly the overrides it would get now: then
    launching the stage would only find each run done, and a continued study skips the sweep's
    start-up. Any difference (a changed override, a run missing, interrupted, diverged or failed)
    launches it, and ``ganbench-train`` decides run by run as before."""
    seed_list = "seed=" + ",".join(str(int(s)) for s in seeds)
    task = [a for a in args[1:] if not a.startswith(("hydra.", "hydra/"))]
    for seed in seeds:
        run_dir = directory / f"s{int(seed)}"
        try:
            record = load_record(run_dir)
            saved = yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text())
        except (ValueError, OSError, yaml.YAMLError):
            return False
        expected = [f"seed={int(seed)}" if a == seed_list else a for a in task]
        if record.status != "completed" or not _same_overrides(saved, expected):
            return False
    return True


def _same_overrides(saved: Any, given: Sequence[str]) -> bool:
    """Whether Hydra's record of a job's overrides (``.hydra/overrides.yaml``, in Hydra's own
    spelling: ``False``, ``$\\{…\\}``) says the same as the ``given`` command-line overrides."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    if not isinstance(saved, list) or len(saved) != len(given):
        return False
    try:
        parsed = [OverridesParser.create().parse_overrides([str(o) for o in x]) for x in (saved, given)]
    except HydraException:
        return False
    a, b = ([(o.type, o.get_key_element(), o.value()) for o in x] for x in parsed)
    return a == b


def _trial_number(trial_dir: Path, record: dict[str, Any]) -> Any:
    """The Optuna number of the search trial in ``trial_dir``: read from its place in the search
    (``from<N>/<job>``), else its record's."""
    number = optuna_trial_number(trial_dir)
    return number if number is not None else (record.get("trial") or {}).get("number")


def _write_trial(
    directory: Path, trial_dir: Path, record: dict[str, Any], only_if_changed: bool = False, **extra: Any
) -> None:
    """``trial.json`` beside the runs that re-run a search trial: which trial (its directory, its
    Optuna number and its sampled values) and ``extra`` (an ablation's changes). A trial number
    recorded before runs knew it (their sweep's job number) is corrected from the trial's place.
    ``only_if_changed``: write only when the file is missing or says something else."""
    trial = record.get("trial")
    if isinstance(trial, dict):
        trial = {**trial, "number": _trial_number(trial_dir, record)}
    text = json.dumps({"trial_dir": str(trial_dir), "trial": trial, **extra}, indent=2) + "\n"
    path = directory / "trial.json"
    if only_if_changed:
        try:
            if path.read_text() == text:
                return
        except OSError:
            pass
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)


def ablated(overrides: Sequence[str], changes: Sequence[str]) -> list[str]:
    """``overrides`` without those that ``changes`` replace: the same key, and the settings inside a
    config group that a change chooses again (``regularizer=none`` drops ``regularizer=r1`` and
    ``regularizer.gamma=0.5``)."""
    keys = {override_key(c) for c in changes}
    return [o for o in overrides if not any(override_key(o) == k or override_key(o).startswith(f"{k}.") for k in keys)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ganbench-study",
        description="A loss comparison in stages: an equal hyperparameter search per loss, the best configurations "
        "on new seeds, then any ablations of them on the same seeds. Resumable: run the same command again to "
        "continue.",
        epilog=__doc__.split("The study file (YAML)::", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("study", type=Path, help="the study file (YAML)")
    parser.add_argument("--dir", type=Path, default=None, help="the study directory (default: studies/<name>)")
    parser.add_argument("--dry-run", action="store_true", help="say what would run, run nothing")
    parser.add_argument(
        "--status", action="store_true", help="say how far the study has got (also while it runs), run nothing"
    )
    args = parser.parse_args(argv)
    try:
        spec = load_study_file(args.study)
    except StudyError as err:
        print(f"ganbench-study: {err}", file=sys.stderr)
        return 2
    root = args.dir or Path("studies") / str(spec["name"])
    if args.status:
        if not root.is_dir():
            print(f"ganbench-study: {root} does not exist: no study has started there (--dir DIR)", file=sys.stderr)
            return 2
        print_result(status_text(spec, root))
        return 0
    os.environ.setdefault("MPLBACKEND", "Agg")
    again = "ganbench-study " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    try:
        with stop_signals_raise(), owning(root):
            commands = run_study(spec, root, dry_run=args.dry_run)
    except StudyBusyError as err:
        print(f"ganbench-study: {err}", file=sys.stderr)
        return 2
    except StudyRunError as err:
        print(f"ganbench-study: {err}; fix it, then continue with: {again}", file=sys.stderr)
        return 2 if err.code == 2 else 1
    except (StopRequestedError, KeyboardInterrupt) as err:
        signum = err.signum if isinstance(err, StopRequestedError) else signal.SIGINT
        print(f"ganbench-study: stopped by {signal.Signals(signum).name}; continue with: {again}", file=sys.stderr)
        return 128 + int(signum)
    print("ganbench-study: done. Tables and plots:", *("  " + c for c in commands), sep="\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
