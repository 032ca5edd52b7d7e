"""A user's mistake is one line on stderr, exit code 2, and nothing written; in a sweep, only a
``failed`` record."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHORT = ["trainer.enable_progress_bar=false", "iterations=20", "eval.every=10", "log_every=5", "checkpoint.every=10"]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "ganbench.train", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )


def tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def assert_one_line_error(done: subprocess.CompletedProcess, *words: str) -> None:
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("ganbench: "), done.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.parametrize(
    "overrides, words",
    [
        (["seed=-1"], ["seed must be in [0, 2**32)"]),
        (["n_critic=0"], ["n_critic must be >= 1", "n_critic=1"]),  # refused by GANModule, in build()
        (["ema.decay=1.5"], ["ema.decay must be in [0, 1)"]),
        (["module.callback_metrics_every=0"], ["module.callback_metrics_every must be >= 1", "=100"]),
        (["dataset=folder", "model=dcgan", "dataset.root=/nonexistent/images"], ["/nonexistent/images"]),
        (["dataset=digits"], ["MLPGenerator generates points of 2 numbers", "DigitsDataModule) is of images",
                              "+experiment=digits"]),
        (["+experiment=digits", "evaluator.inception=false", "evaluator.domain=false"],
         ["inception=true or domain=true"]),
        (["loss._target_=no_such_module.Loss"], ["loss._target_=no_such_module.Loss cannot be imported"]),
        (["loss=least_squares", "+loss.aa=1"], ["loss", "aa"]),
        (["evaluator.metrics=[fidd]"], ["fidd", "valid: modes_captured, high_quality"]),
        # composition errors (Hydra's, over several lines) become one line with the closest setting or option
        (["eval.num_samples=100"], ["eval.num_samples is not a setting", "did you mean evaluator.num_samples=",
                                    "eval has: background_plots, best, every, repeats, seed"]),
        (["eval.metrics=[fid]"], ["eval.metrics is not a setting", "did you mean evaluator.metrics="]),
        (["iteratons=5"], ["iteratons is not a setting", "did you mean iterations="]),
        (["+eval.foo=1"], ["eval.foo is not a setting (a + override adds keys only inside config groups",
                           "eval has: background_plots, best, every, repeats, seed"]),
        (["+iteratons=5"], ["iteratons is not a setting", "did you mean iterations=…?"]),
        (["optimizer.generator.lrr=1e-4"], ["did you mean optimizer.generator.lr=", "generator has: betas, lr"]),
        (["loss=hinj"], ["loss=hinj: conf/loss/ has no hinj.yaml", "did you mean loss=hinge?", "options: fgan_"]),
        (["iterations=abc"], ["iterations=abc: Value 'abc' of type 'str' could not be converted to Integer"]),
        (["eval.every=[1"], ["does not parse", "key=value"]),
        (["iterations=99999999999999999999"], ["iterations must be in [1, 1_000_000_000]"]),
        (["optimizer.discriminator.lr=inf"], ["optimizer.discriminator.lr must be a finite number > 0"]),
        (["optimized_metric=modes_capture"], ["optimized_metric=modes_capture is not a metric", "modes_captured"]),
        (["eval.best=true", "optimized_metric=best_mode_tv"], []),  # reported with eval.best: accepted
        (["a" * 100_000 + "=1"], ["an override key of 100,000 characters"]),
    ],
)  # fmt: skip
def test_user_errors_are_one_line_and_write_nothing(tmp_path, overrides, words):
    run_dir = tmp_path / "new" / "run"  # Hydra creates both: a refused run leaves neither
    done = cli(*SHORT, *overrides, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    if not words:
        assert done.returncode == 0, done.stderr[-2000:]
        return
    assert_one_line_error(done, *words)
    assert list(tmp_path.iterdir()) == []


def test_resume_of_a_file_is_one_line(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    done = cli(f"resume={tmp_path / 'notes.txt'}", cwd=tmp_path)
    assert_one_line_error(done, "notes.txt is a file, not a directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.fixture
def read_only_dir(tmp_path):
    """A directory nobody may write in: a read-only tmpfs for root (who ignores permissions), else mode 0555."""
    path = tmp_path / "read-only"
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        yield path
        path.chmod(0o755)
        return
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path)]).returncode != 0:
        pytest.skip("root, and no read-only tmpfs can be mounted here")
    yield path
    subprocess.run(["umount", str(path)])


def test_a_read_only_run_directory_is_one_line(read_only_dir, tmp_path):
    done = cli(*SHORT, f"hydra.run.dir={read_only_dir / 'run'}", cwd=tmp_path)
    assert_one_line_error(done, "run directory", "read-only", "hydra.run.dir=")
    assert list(read_only_dir.iterdir()) == []
    done = cli(f"resume={read_only_dir}", cwd=tmp_path)
    assert_one_line_error(done, f"resume={read_only_dir} is read-only")
    done = cli("-m", *SHORT, "seed=0,1", f"hydra.sweep.dir={read_only_dir / 'sweep'}", cwd=tmp_path)
    assert_one_line_error(done, "sweep directory", "read-only", "hydra.sweep.dir=")


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda ckpt: ckpt.pop("ganbench"), ["key 'ganbench'", "is missing"]),
        (lambda ckpt: ckpt["ganbench"].update(iteration="ten"), ["ganbench.iteration"]),
        (lambda ckpt: ckpt.update(state_dict=[1, 2]), ["state_dict"]),
        (lambda ckpt: ckpt.update(global_step=-3), ["global_step"]),
        (lambda ckpt: ckpt.update(optimizer_states=None), ["optimizer_states"]),
    ],
    ids=["no ganbench state", "iteration not an int", "state_dict a list", "negative global_step", "no optimizers"],
)
def test_a_checkpoint_that_loads_but_is_not_ganbench_s_is_one_line(existing_run, tmp_path, damage, words):
    import shutil

    import torch

    run_dir = tmp_path / "run"
    shutil.copytree(existing_run, run_dir)
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    damage(ckpt)
    torch.save(ckpt, run_dir / "checkpoints" / "last.ckpt")
    before = tree(run_dir)
    done = cli(f"resume={run_dir}", cwd=tmp_path)
    assert_one_line_error(done, "is not a ganbench checkpoint", *words, "iter000020.ckpt")
    after = tree(run_dir)
    assert {k: v for k, v in after.items() if k != "summary.json"} == {
        k: v for k, v in before.items() if k != "summary.json"
    }


def test_an_empty_image_folder_is_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    done = cli(*SHORT, "dataset=folder", "model=dcgan", f"dataset.root={tmp_path / 'empty'}",
               f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)  # fmt: skip
    assert_one_line_error(done, "any image file")
    assert not (tmp_path / "run").exists()


def test_resume_without_a_checkpoint_is_one_line(tmp_path):
    (tmp_path / "old").mkdir()
    done = cli(f"resume={tmp_path / 'old'}", cwd=tmp_path)
    assert_one_line_error(done, "last.ckpt")
    assert list((tmp_path / "old").iterdir()) == []


@pytest.fixture(scope="module")
def existing_run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("existing")
    done = cli(*SHORT, f"hydra.run.dir={tmp / 'run'}", cwd=tmp)
    assert done.returncode == 0, done.stderr[-2000:]
    return tmp / "run"


def test_a_refused_different_config_leaves_the_other_run_untouched(existing_run, tmp_path):
    before = tree(existing_run)
    done = cli(*SHORT, "loss=hinge", f"hydra.run.dir={existing_run}", cwd=tmp_path)
    assert_one_line_error(done, "different run", "loss")
    assert tree(existing_run) == before  # .hydra/, config.yaml, summary.json: byte for byte


def test_resume_with_ignored_overrides_is_refused_and_writes_nothing(existing_run, tmp_path):
    before = tree(existing_run)
    done = cli(f"resume={existing_run}", "loss=hinge", cwd=tmp_path)
    assert_one_line_error(done, "loss=hinge would be ignored")
    assert tree(existing_run) == before


def test_in_a_sweep_a_user_error_writes_only_a_failed_record(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "ganbench.train", "-m", *SHORT, "seed=0,-1", f"hydra.sweep.dir={tmp_path / 's'}"],
        env={**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"},
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    bad = tmp_path / "s" / "1_nonsaturating_none_s-1"
    assert sorted(p.name for p in bad.iterdir()) == ["summary.json"]
    record = json.loads((bad / "summary.json").read_text())
    assert record["status"] == "failed" and "seed must be" in record["error"]
    assert json.loads((tmp_path / "s" / "0_nonsaturating_none_s0" / "summary.json").read_text())["status"] == (
        "completed"
    )


def test_no_lightning_step_count_and_no_empty_log_file(existing_run):
    assert not any(p.suffix == ".log" for p in existing_run.iterdir())


def test_lightning_step_message_is_not_printed(tmp_path):
    done = cli(*SHORT, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert done.returncode == 0
    assert "Trainer.fit` stopped" not in done.stdout + done.stderr
    assert "ganbench: run completed after 20 iterations" in done.stdout


def readme_error_examples() -> list[tuple[list[str], str]]:
    """Each ``$ ganbench-train …`` line of README.md that is followed by a ``ganbench: …`` line."""
    import shlex

    lines = (ROOT / "README.md").read_text().splitlines()
    return [
        (shlex.split(line)[2:], nxt)
        for line, nxt in zip(lines, lines[1:], strict=False)
        if line.startswith("$ ganbench-train ") and nxt.startswith("ganbench: ")
    ]


def test_the_readme_s_error_examples_are_what_ganbench_train_prints(tmp_path):
    examples = readme_error_examples()
    assert len(examples) >= 3  # loss=hinj, eval.evry=100, seed=-1
    for args, printed in examples:
        done = cli(*args, cwd=tmp_path)
        assert done.returncode == 2 and done.stderr == printed + "\n", (args, done.stderr[-2000:])
    assert list(tmp_path.iterdir()) == []
