"""ganbench-study stopped at random points (SIGTERM, SIGINT, SIGKILL) and rerun: it leaves no run
going, no trial RUNNING, and ends with exactly the trial budget of every (dataset, loss)."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from ganbench.process_guard import GRACE_SECONDS

ROOT = Path(__file__).resolve().parents[1]
TRIALS = 2


def write_spec(path: Path, losses: list[str]) -> Path:
    path.write_text(f"""
name: killed
datasets: [ring]
trials: {TRIALS}
top_k: 1
seeds: [5]
allow_underpowered: true
overrides: [iterations=300, eval.every=null, checkpoint.every=null, log_every=50, trainer.enable_progress_bar=false]
losses: {{{", ".join(f"{loss}: {{search: {loss}}}" for loss in losses)}}}
""")
    return path


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}


def start(spec: Path, root: Path) -> subprocess.Popen:
    # the lock file appears once the study handles SIGTERM and SIGINT (before that, a signal ends
    # the interpreter at its default action, and nothing has been started that could be left)
    (root / ".study.lock").unlink(missing_ok=True)
    return subprocess.Popen([sys.executable, "-m", "ganbench.study", str(spec), "--dir", str(root)], env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def processes_of(root: Path, study_pid: int) -> list[str]:
    """The live processes a study started: its runs name the study directory on their command
    line, its guard the study's pid."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and (str(root) in cmdline or f"guard({study_pid}," in cmdline):
            found.append(f"{proc.name}: {cmdline[:200]}")
    return found


def wait_for_no_processes(root: Path, study_pid: int, timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    while (left := processes_of(root, study_pid)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


def trial_states(root: Path) -> dict[str, list[str]]:
    storage = f"sqlite:///{root / 'optuna.db'}"
    return {
        s.study_name: [t.state.name for t in optuna.load_study(study_name=s.study_name, storage=storage).trials]
        for s in optuna.get_all_study_summaries(storage)
    }


def running_trials(root: Path) -> int:
    """Trials RUNNING in the study's storage (read with sqlite3: cheap enough to poll)."""
    try:
        with sqlite3.connect(f"file:{root / 'optuna.db'}?mode=ro", uri=True, timeout=1) as db:
            return db.execute("SELECT count(*) FROM trials WHERE state = 'RUNNING'").fetchone()[0]
    except sqlite3.Error:  # no storage, or no table yet
        return 0


def stop(proc: subprocess.Popen, root: Path, signum: int, after: float, mid_trial: bool = False) -> tuple[int, str]:
    """Send ``signum`` to the study ``after`` seconds after it started (``mid_trial``: after a
    trial started); its exit code and stderr."""
    deadline = time.monotonic() + 180
    while proc.poll() is None and time.monotonic() < deadline:
        if running_trials(root) if mid_trial else (root / ".study.lock").exists():
            break
        time.sleep(0.2)
    time.sleep(after)
    if proc.poll() is None:
        proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    # the study stops its runs before it exits; when killed, its guard stops them (SIGTERM, then
    # SIGKILL after process_guard.GRACE_SECONDS)
    left = wait_for_no_processes(root, proc.pid, timeout=GRACE_SECONDS + 10 if signum == signal.SIGKILL else 3)
    assert not left, f"still running after {signal.Signals(signum).name}: {left}"
    return proc.returncode, err


def finish_and_check(spec: Path, root: Path, losses: list[str], seeds: int = 1) -> None:
    proc = start(spec, root)
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-2000:] + err[-2000:]
    assert "Traceback" not in err
    states = trial_states(root)
    assert sorted(states) == sorted(f"ring-{loss}" for loss in losses)
    for name, trials in states.items():
        assert "RUNNING" not in trials, (name, trials)
        assert sum(s in ("COMPLETE", "FAIL") for s in trials) == TRIALS, (name, trials)
    assert not processes_of(root, proc.pid)
    for loss in losses:
        assert len(list((root / "ring" / loss / "seeds" / "top1").glob("s*/summary.json"))) == seeds


def test_sigterm_stops_the_run_and_a_rerun_counts_each_trial_once(tmp_path):
    spec = write_spec(tmp_path / "study.yaml", ["hinge"])
    root = tmp_path / "study"
    code, err = stop(start(spec, root), root, signal.SIGTERM, after=1.0, mid_trial=True)
    assert code == 128 + signal.SIGTERM
    assert err.strip().splitlines()[-1].startswith("ganbench-study: stopped by SIGTERM; continue with: ganbench-study ")
    assert "Traceback" not in err
    # stopped during a trial: that trial is PRUNED (it does not count), none is left RUNNING
    assert trial_states(root) == {"ring-hinge": ["PRUNED"]}
    finish_and_check(spec, root, ["hinge"])


@pytest.mark.slow
def test_killed_at_random_points_by_every_signal(tmp_path):
    """SIGINT (Ctrl-C), SIGTERM and SIGKILL at seeded random moments, one after another, each
    followed by a rerun that is stopped again; then a rerun to the end."""
    losses = ["hinge", "least_squares"]
    spec = write_spec(tmp_path / "study.yaml", losses)
    root = tmp_path / "study"
    moments = random.Random(23)
    for signum in (signal.SIGINT, signal.SIGKILL, signal.SIGTERM, signal.SIGKILL, signal.SIGINT):
        mid_trial = moments.random() < 0.5
        code, err = stop(start(spec, root), root, signum, after=moments.uniform(0.0, 15.0), mid_trial=mid_trial)
        if code == 0:
            break  # the study ended before the signal: nothing left to stop
        assert code in (128 + signum, -signal.SIGKILL), (signal.Signals(signum).name, code, err[-2000:])
        assert "Traceback" not in err
        if signum == signal.SIGINT:
            assert "stopped by SIGINT" in err
            assert all("RUNNING" not in trials for trials in trial_states(root).values())
    finish_and_check(spec, root, losses)


@pytest.mark.slow
def test_a_study_continues_elsewhere_from_its_exported_records(tmp_path):
    """Stopped during its seed stage, a study's raw records (ganbench-export-records: no checkpoint,
    no plot, no log) are all another machine needs to finish it: the trials that reported are kept
    and not run again, the trial stopped mid-run is run afresh, and the budget is met exactly."""
    from ganbench.record_export import export_records

    spec = write_spec(tmp_path / "study.yaml", ["hinge"])
    text = spec.read_text().replace("seeds: [5]", "seeds: [5, 6]")
    spec.write_text(text.replace("iterations=300", "iterations=2000"))
    root = tmp_path / "here"
    proc = start(spec, root)
    seed_run = root / "ring" / "hinge" / "seeds" / "top1" / "s5"
    deadline = time.monotonic() + 300
    while not (seed_run / "summary.json").is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)  # the seed run has started
    time.sleep(2.0)  # and is some iterations in
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert not wait_for_no_processes(root, proc.pid, timeout=3)

    def search_records(where: Path) -> dict[Path, bytes]:
        return {p.relative_to(where): p.read_bytes() for p in where.glob("ring/hinge/search/*/*/summary.json")}

    searched = search_records(root)
    assert len(searched) == TRIALS
    assert trial_states(root) == {"ring-hinge": ["COMPLETE"] * TRIALS}

    import json

    stopped = json.loads((seed_run / "summary.json").read_text())
    assert stopped["status"] == "interrupted" and 0 < stopped["iterations"] < 2000, stopped
    records = tmp_path / "records"
    export_records(root, records)
    assert not list(records.rglob("*.ckpt")) and not list(records.rglob("*.png"))
    elsewhere = tmp_path / "elsewhere"
    records.rename(elsewhere)  # another path, as on another machine
    finish_and_check(spec, elsewhere, ["hinge"], seeds=2)
    # the search is the exported one, untouched: no trial was run again
    assert search_records(elsewhere) == searched
    assert trial_states(elsewhere) == {"ring-hinge": ["COMPLETE"] * TRIALS}
    # the seed run stopped mid-run (its checkpoint stayed behind) ran again from the start, to the end
    for seed in ("s5", "s6"):
        record = json.loads((elsewhere / "ring" / "hinge" / "seeds" / "top1" / seed / "summary.json").read_text())
        assert record["status"] == "completed" and record["iterations"] == 2000, (seed, record["status"])


def lanes_spec(path: Path, losses: list[str], iterations: int = 300, extra: str = "") -> Path:
    """A study of ``losses`` whose (dataset, loss) pipelines run two at a time, one trial at a time each."""
    path.write_text(f"""
name: lanes
datasets: [ring]
trials: {TRIALS}
top_k: 1
seeds: [5, 6]
allow_underpowered: true
parallel: 2
overrides: [iterations={iterations}, eval.every=null, checkpoint.every=null, log_every=50,
            trainer.enable_progress_bar=false]
launcher: [hydra/launcher=joblib]
search_overrides: [hydra.sweeper.n_jobs=1]
losses: {{{", ".join(f"{loss}: {{search: {loss}{extra if loss == losses[-1] else ''}}}" for loss in losses)}}}
""")
    return path


def sweeps_seen(root: Path, proc: subprocess.Popen) -> list[dict[str, frozenset[int]]]:
    """Until ``proc`` ends: at each look (every 0.1 s), the study's sweeps then running (each
    ``ganbench.train -m`` naming its (dataset, loss) study) with the cores each may run on."""
    looks = []
    while proc.poll() is None:
        now = {}
        for line in processes_of(root, proc.pid):
            pid = line.partition(": ")[0]
            try:
                args = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            names = [a.split("=", 1)[1] for a in args if a.startswith("hydra.sweeper.study_name=")]
            if "ganbench.train" in args and names:
                name = names[0]
                allowed = next(x.split()[1] for x in status.splitlines() if x.startswith("Cpus_allowed_list:"))
                now[name] = frozenset(_cores(allowed))
        looks.append(now)
        time.sleep(0.1)
    return looks


def _cores(text: str) -> set[int]:
    """``0-1,3`` → {0, 1, 3}."""
    out: set[int] = set()
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out |= set(range(int(lo), int(hi or lo) + 1))
    return out


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="two lanes need two cores")
def test_two_lanes_run_two_pipelines_at_once_on_their_own_cores(tmp_path):
    """``parallel: 2``: the two (dataset, loss) pipelines run side by side, each sweep pinned to
    its own half of the cores, and the study ends with each one's trial budget and seed runs."""
    losses = ["hinge", "least_squares"]
    root = tmp_path / "study"
    proc = start(lanes_spec(tmp_path / "study.yaml", losses), root)
    looks = sweeps_seen(root, proc)
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-2000:] + err[-2000:]
    both = [look for look in looks if len(look) == 2]
    assert both, "the two pipelines never ran at once"
    for look in both:
        first, second = look.values()
        assert first and second and not first & second, look  # disjoint cores
    cores = set(os.sched_getaffinity(0))
    assert all(set(c) < cores for look in looks for c in look.values())  # each a share, never all
    finish_and_check(tmp_path / "study.yaml", root, losses, seeds=2)  # done: a rerun adds nothing


def test_a_failing_lane_stops_the_other_and_the_study_says_which(tmp_path):
    """One pipeline's sweep is refused at once while the other's runs: the study stops the running
    one (nothing left behind, no trial RUNNING) and exits with the refused sweep's one line."""
    spec = lanes_spec(tmp_path / "study.yaml", ["hinge", "least_squares"], 3000, extra=", overrides: [n_critc=2]")
    root = tmp_path / "study"
    proc = start(spec, root)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, err[-2000:]
    (line,) = err.strip().splitlines()
    assert line.startswith("ganbench-study: ring-least_squares: ganbench-train exited 2: ganbench: n_critc is not a ")
    assert not wait_for_no_processes(root, proc.pid, timeout=3)
    assert all("RUNNING" not in trials for trials in trial_states(root).values())


def test_sigterm_stops_every_lane_and_a_rerun_finishes(tmp_path):
    losses = ["hinge", "least_squares"]
    spec = lanes_spec(tmp_path / "study.yaml", losses)
    root = tmp_path / "study"
    code, err = stop(start(spec, root), root, signal.SIGTERM, after=2.0, mid_trial=True)
    assert code == 128 + signal.SIGTERM, err[-2000:]
    assert "Traceback" not in err
    assert all("RUNNING" not in trials for trials in trial_states(root).values())
    finish_and_check(spec, root, losses, seeds=2)


@pytest.mark.slow
def test_lanes_draw_the_same_candidates_as_one_search_of_two_trials_at_once(tmp_path):
    """The same study run as two lanes of one trial at a time, and as one lane of two trials at a
    time (hydra.sweeper.n_jobs=2): every (dataset, loss) tried the same settings."""
    losses = ["hinge", "least_squares"]

    def params(spec: Path, root: Path) -> dict[str, list[dict]]:
        proc = start(spec, root)
        out, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, out[-2000:] + err[-2000:]
        storage = f"sqlite:///{root / 'optuna.db'}"
        return {
            s.study_name: [t.params for t in optuna.load_study(study_name=s.study_name, storage=storage).trials]
            for s in optuna.get_all_study_summaries(storage)
        }

    lanes = lanes_spec(tmp_path / "lanes.yaml", losses, iterations=20)
    batched = tmp_path / "batched.yaml"
    batched.write_text(lanes.read_text().replace("parallel: 2", "parallel: 1").replace("n_jobs=1", "n_jobs=2"))
    two_lanes, one_lane = params(lanes, tmp_path / "lanes"), params(batched, tmp_path / "batched")
    assert sorted(two_lanes) == ["ring-hinge", "ring-least_squares"]
    assert two_lanes == one_lane
    assert two_lanes["ring-hinge"] != two_lanes["ring-least_squares"]  # each its own candidates
