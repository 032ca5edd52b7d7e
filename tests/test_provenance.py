"""The ``code`` of a run record: the commit, whether ganbench's code differs from it, and the
library versions, checked against git and the installed packages directly."""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from ganbench.provenance import code_version
from ganbench.summary import RunRecorder, load_record

ROOT = Path(__file__).resolve().parents[1]
SHORT = ["trainer.enable_progress_bar=false", "iterations=20", "eval.every=10", "log_every=5", "checkpoint.every=10"]
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(where: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(where), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          capture_output=True, text=True, check=False)  # fmt: skip


@needs_git
def test_a_run_records_the_commit_and_the_libraries_it_ran(train):
    summary, run_dir = train(*SHORT)
    code = summary["code"]
    assert code == load_record(run_dir).extra["code"]  # as written in summary.json
    head = git(ROOT, "rev-parse", "HEAD")
    if head.returncode != 0:
        pytest.skip("the tests do not run from a git checkout")
    assert code["commit"] == head.stdout.strip()
    # `git diff --quiet` exits 1 when a tracked file of the code differs from the commit
    changed = git(ROOT, "diff", "--quiet", "HEAD", "--", "src", "conf", "pyproject.toml").returncode == 1
    assert code["modified"] == changed
    assert code["python"] == "{}.{}.{}".format(*sys.version_info[:3])
    assert code["torch"] == metadata.version("torch") and code["lightning"] == metadata.version("lightning")
    import ganbench

    assert code["ganbench"] == ganbench.__version__


@needs_git
def test_a_checkout_says_its_commit_and_whether_its_code_was_changed(tmp_path):
    repo = tmp_path / "repo"
    package = repo / "src" / "ganbench"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("x = 1\n")
    (repo / "conf").mkdir()
    (repo / "conf" / "train.yaml").write_text("a: 1\n")
    (repo / "README.md").write_text("docs\n")
    assert git(repo, "init", "-q").returncode == 0
    git(repo, "add", "-A")
    assert git(repo, "commit", "-qm", "one").returncode == 0
    head = git(repo, "rev-parse", "HEAD").stdout.strip()
    assert code_version(package)["commit"] == head and code_version(package)["modified"] is False
    # docs, and files git does not track, are not the code
    (repo / "README.md").write_text("other docs\n")
    (package / "scratch.py").write_text("y = 2\n")
    assert code_version(package)["modified"] is False
    (repo / "conf" / "train.yaml").write_text("a: 2\n")
    assert (code_version(package)["commit"], code_version(package)["modified"]) == (head, True)


@needs_git
def test_outside_a_checkout_of_its_own_there_is_no_commit(tmp_path):
    # a copy of the package, then the same copy inside some other repository (a venv in a checkout)
    copy = tmp_path / "site-packages" / "ganbench"
    shutil.copytree(ROOT / "src" / "ganbench", copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert (code_version(copy)["commit"], code_version(copy)["modified"]) == (None, None)
    assert git(tmp_path, "init", "-q").returncode == 0
    git(tmp_path, "add", "-A")
    assert git(tmp_path, "commit", "-qm", "a repository that holds the package elsewhere").returncode == 0
    assert (code_version(copy)["commit"], code_version(copy)["modified"]) == (None, None)
    assert code_version(copy)["torch"] == metadata.version("torch")


def test_a_resumed_run_keeps_the_other_code_its_earlier_stretches_ran(tmp_path):
    a, b = {"commit": "a" * 40}, {"commit": "b" * 40}

    def stretch(code: dict, resumed_from: int | None) -> dict:
        rec = RunRecorder(tmp_path)
        previous = load_record(tmp_path) if resumed_from is not None else None
        rec.start(seed=0, choices={}, objective={}, resumed_from=resumed_from, previous=previous, code=code)
        rec.interrupted("SIGTERM", (resumed_from or 0) + 5, iterations=(resumed_from or 0) + 5, wall_seconds=1.0)
        return load_record(tmp_path).to_dict()

    assert "code_before" not in stretch(a, None)
    assert "code_before" not in stretch(a, 5)  # the same code: nothing to add
    record = stretch(b, 10)
    assert record["code"] == b and record["code_before"] == [a]
    record = stretch(a, 15)
    assert record["code"] == a and record["code_before"] == [b]
