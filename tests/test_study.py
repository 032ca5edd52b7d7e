"""ganbench-study: the two-stage protocol end to end on a tiny budget, and its resumption."""

from __future__ import annotations

import csv
import glob
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ganbench.study import (
    StudyError,
    best_trials,
    load_study_file,
    main,
    mark_best_in_wandb,
    optuna_trial_number,
    owning,
    sampler_seed,
    stage_completed,
    time_left,
    trial_overrides,
)

ROOT = Path(__file__).resolve().parents[1]
TINY = """
name: tiny
datasets: [ring]
trials: 3
top_k: 1
seeds: [5, 6]
overrides: [iterations=20, eval.every=null, checkpoint.every=null, log_every=10, trainer.enable_progress_bar=false]
losses:
  hinge: {search: hinge}
"""


def study(spec: Path, root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "ganbench.study", str(spec), "--dir", str(root)], env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip


def test_two_stages_run_and_a_rerun_skips_what_is_done(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    root = tmp_path / "study"
    done = study(spec, root)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert (root / "optuna.db").is_file()
    trials = sorted((root / "ring" / "hinge" / "search").glob("*/*/summary.json"))
    assert len(trials) == 3
    records = [json.loads(p.read_text()) for p in trials]
    assert all(r["trial"]["params"]["n_critic"] in {"1", "2", "3", "4", "5"} for r in records)
    # stage 2: the best trial by mode_tv (the search file's optimized_metric, lower is better)
    best = min(records, key=lambda r: r["metrics"]["mode_tv"])
    seeds = root / "ring" / "hinge" / "seeds" / "top1"
    assert json.loads((seeds / "trial.json").read_text())["trial"] == best["trial"]
    seed_records = {p.parent.name: json.loads(p.read_text()) for p in seeds.glob("*/summary.json")}
    assert sorted(seed_records) == ["s5", "s6"]
    assert {r["seed"] for r in seed_records.values()} == {5, 6}
    # the seed runs are the trial's setting: its loss (selected by the search file) and its values
    assert {r["objective"]["loss"] for r in seed_records.values()} == {"hinge"} == {best["objective"]["loss"]}
    lr = float(best["trial"]["params"]["optimizer.generator.lr"])
    assert all(f"lr: {lr}" in (seeds / s / "config.yaml").read_text() for s in seed_records)
    from omegaconf import OmegaConf

    seed_cfg = OmegaConf.load(seeds / "s5" / "config.yaml")
    beta1 = float(best["trial"]["params"]["optimizer.generator.betas.0"])
    assert seed_cfg.optimizer.discriminator.betas == seed_cfg.optimizer.generator.betas
    assert seed_cfg.optimizer.generator.betas[0] == pytest.approx(beta1)
    # every sampled value, the config-group choice of the LR schedule included, is the trial's
    assert best["trial"]["params"]["+optimizer/scheduler"] in {"constant", "linear"}
    (trial_dir,) = [p.parent for p in trials if json.loads(p.read_text())["trial"] == best["trial"]]
    trial_cfg = OmegaConf.load(trial_dir / "config.yaml")
    assert OmegaConf.to_container(seed_cfg.optimizer) == OmegaConf.to_container(trial_cfg.optimizer)
    assert seed_cfg.n_critic == trial_cfg.n_critic and seed_cfg.ema == trial_cfg.ema
    # the sampled penalty, rebuilt through the regularizer group: the same regularizer
    from hydra.utils import instantiate

    seed_reg, trial_reg = instantiate(seed_cfg.regularizer), instantiate(trial_cfg.regularizer)
    assert type(seed_reg) is type(trial_reg) and vars(seed_reg) == vars(trial_reg)
    # the printed tuned comparison: the seed runs, with the budget curves of their search
    from ganbench.compare import main as compare_main

    (command,) = [line.strip() for line in done.stdout.splitlines() if "/tuned" in line]
    args = [p for a in shlex.split(command)[1:] for p in (sorted(glob.glob(a)) if glob.has_magic(a) else [a])]
    assert compare_main(args) == 0
    assert "| ring | hinge | 2 |" in (root / "tuned" / "comparison.md").read_text()  # the 2 seed runs
    budget = list(csv.DictReader(open(root / "tuned" / "budget.csv")))
    assert max(int(r["k"]) for r in budget) == 3  # the 3 trials
    # rerun: no new trial, no new run
    before = {p: p.stat().st_mtime_ns for p in root.rglob("summary.json")}
    again = study(spec, root)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "search, " not in again.stdout  # no trial left to run
    assert {p: p.stat().st_mtime_ns for p in root.rglob("summary.json")} == before
    # the finished seed stage is not even launched: no sweep start-up, nothing added to its log
    trial_name = json.loads((seeds / "trial.json").read_text())["trial_dir"].split("/")[-1]
    assert f"ring-hinge: seeds of trial {trial_name} (rank 1): all 2 runs completed" in again.stdout
    log = root / "logs" / "ring-hinge.log"
    size = log.stat().st_size
    assert study(spec, root).returncode == 0 and log.stat().st_size == size


ABLATED = """
name: ablated
datasets: [ring]
trials: 2
top_k: 1
seeds: [5, 6]
allow_underpowered: true
overrides: [iterations=20, eval.every=null, checkpoint.every=null, log_every=10, trainer.enable_progress_bar=false]
ablations:
  no_penalty: [regularizer=none]
  same_penalty: [regularizer=gp]
search_overrides: [regularizer.kind=gp]
losses:
  hinge: {search: hinge}
"""


def test_an_ablation_re_runs_the_best_setting_with_one_change(tmp_path, capsys):
    from omegaconf import OmegaConf

    from ganbench.compare import main as compare_main

    spec = tmp_path / "ablated.yaml"
    spec.write_text(ABLATED)
    root = tmp_path / "study"
    done = study(spec, root)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    where = root / "ring" / "hinge"
    seeds, ablation = where / "seeds" / "top1", where / "ablations" / "no_penalty"
    # the same seeds, the same config but for the penalty: the tuned gp, the ablation none
    for s in ("s5", "s6"):
        tuned, ablated = (OmegaConf.to_container(OmegaConf.load(d / s / "config.yaml")) for d in (seeds, ablation))
        assert tuned["regularizer"]["_target_"] == "ganbench.regularizers.GradientPenalty"
        assert ablated["regularizer"] == {"_target_": "ganbench.regularizers.NoRegularizer"}
        assert {k: v for k, v in tuned.items() if k != "regularizer"} == {
            k: v for k, v in ablated.items() if k != "regularizer"
        }
        assert json.loads((ablation / s / "summary.json").read_text())["status"] == "completed"
    assert json.loads((ablation / "trial.json").read_text())["ablation"] == ["regularizer=none"]
    # an ablation the best setting already has runs nothing
    assert "ablation same_penalty: trial" in done.stdout and "already has regularizer=gp; nothing to run" in done.stdout
    assert not (where / "ablations" / "same_penalty").exists()
    # the printed comparison: tuned against ablated, each loss split by its regularizer
    (command,) = [line.strip() for line in done.stdout.splitlines() if "ablations/no_penalty" in line]
    args = shlex.split(command)
    assert args[0] == "ganbench-compare" and "dataset,loss,regularizer" in args
    expanded = [p for a in args[1:] for p in (sorted(glob.glob(a)) if glob.has_magic(a) else [a])]  # as a shell
    assert compare_main(expanded) == 0
    table = (root / "no_penalty" / "comparison.md").read_text()
    weight = json.loads((seeds / "s5" / "summary.json").read_text())["objective"]["regularizer"]
    assert f"| ring | hinge | {weight} | 2 |" in table and "| ring | hinge | none | 2 |" in table
    rows = {line.split("|")[3].strip(): line for line in table.splitlines() if line.startswith("| ring | hinge |")}
    assert "regularizer.kind=none" in rows["none"] and "regularizer.weight=—" in rows["none"]  # as it ran
    assert "regularizer.kind=gp" in rows[weight] and "regularizer.weight=—" not in rows[weight]
    # a rerun runs nothing more
    before = {p: p.stat().st_mtime_ns for p in root.rglob("summary.json")}
    assert study(spec, root).returncode == 0
    assert {p: p.stat().st_mtime_ns for p in root.rglob("summary.json")} == before
    # a dry run says what it would run, and writes nothing (not even the trial.json of a stage)
    for written in (seeds / "trial.json", ablation / "trial.json"):
        written.unlink()
    listing = sorted(root.rglob("*"))
    assert main([str(spec), "--dir", str(root), "--dry-run"]) == 0
    assert "ablation no_penalty of trial" in capsys.readouterr().out
    assert sorted(root.rglob("*")) == listing
    # --status: every stage done; the ablation the best setting already has plans no run
    assert main([str(spec), "--dir", str(root), "--status"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"study ablated in {root}: 6 of 6 runs ended",
        "dataset  loss   search  seeds  no_penalty  same_penalty",
        "ring     hinge  2/2     2/2    2/2         0/0",
    ]
    record = json.loads((seeds / "s6" / "summary.json").read_text())
    (seeds / "s6" / "summary.json").write_text(json.dumps({**record, "status": "diverged"}))
    assert main([str(spec), "--dir", str(root), "--status"]) == 0
    assert "ring     hinge  2/2     2/2 (1 diverged or failed)  2/2" in capsys.readouterr().out


def test_a_sweep_that_does_not_run_stops_the_study_in_one_line(tmp_path):
    spec = tmp_path / "typo.yaml"
    spec.write_text(TINY.replace("hinge: {search: hinge}", "hinge: {search: hinge, overrides: [n_critc=2]}"))
    done = study(spec, tmp_path / "study")
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("ganbench-study: ring-hinge: ganbench-train exited 2: ganbench: n_critc is not a setting")
    assert str(tmp_path / "study" / "logs" / "ring-hinge.log") in line and "continue with: ganbench-study" in line
    assert "seeds of trial" not in done.stdout  # it stopped there


def test_a_bad_ablation_is_named(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text(TINY + "ablations: {no_penalty: regularizer=none}\nallow_underpowered: true\n")
    with pytest.raises(StudyError, match="ablations must map a name .* to a list of overrides"):
        load_study_file(spec)


def test_a_stage_is_skipped_only_when_every_run_completed_with_the_same_overrides(tmp_path):
    seeds = [5, 6]
    given = [
        "dataset=ring",
        "trainer.enable_progress_bar=false",
        "optimizer.discriminator.betas=${optimizer.generator.betas}",
    ]
    args = [
        "-m",
        *given,
        "hydra/launcher=joblib",
        "seed=5,6",
        f"hydra.sweep.dir={tmp_path}",
        "hydra.sweep.subdir=s${seed}",
    ]
    # as Hydra records a job's overrides: its own spelling of the same values, the sweep's one seed
    hydra_spelling = [
        "dataset=ring",
        "trainer.enable_progress_bar=False",
        "optimizer.discriminator.betas=$\\{optimizer.generator.betas\\}",
    ]

    def write(seed: int, status: str = "completed", overrides: list[str] = hydra_spelling) -> None:
        (tmp_path / f"s{seed}" / ".hydra").mkdir(parents=True, exist_ok=True)
        (tmp_path / f"s{seed}" / "summary.json").write_text(json.dumps({
            "status": status, "iterations": 20, "seed": seed, "choices": {}, "metrics": {}}))  # fmt: skip
        (tmp_path / f"s{seed}" / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([*overrides, f"seed={seed}"]))

    write(5)
    assert not stage_completed(args, tmp_path, seeds)  # s6 has not run
    write(6)
    assert stage_completed(args, tmp_path, seeds)
    for status in ("interrupted", "diverged", "failed"):
        write(6, status=status)
        assert not stage_completed(args, tmp_path, seeds), status
    write(6, overrides=[*hydra_spelling[:2], "optimizer.discriminator.betas=[0.5,0.9]"])  # another setting
    assert not stage_completed(args, tmp_path, seeds)
    write(6, overrides=hydra_spelling[:2])  # one override fewer
    assert not stage_completed(args, tmp_path, seeds)
    write(6)
    (tmp_path / "s6" / ".hydra" / "overrides.yaml").write_text("[unclosed")
    assert not stage_completed(args, tmp_path, seeds)
    write(6)
    assert stage_completed(args, tmp_path, seeds)
    assert not stage_completed([*args, "n_critic=2"], tmp_path, seeds)  # the stage now asks for more


def test_best_trials_respect_direction_and_skip_failures(tmp_path):
    def record(name, status, value, direction):
        d = tmp_path / name
        d.mkdir()
        (d / "summary.json").write_text(json.dumps({
            "status": status, "iterations": 1, "seed": 0, "choices": {}, "metrics": {"m": value},
            "directions": {"m": direction}, "trial": {"number": 0, "params": {"x": name}}}))  # fmt: skip

    record("a", "completed", 1.0, "max")
    record("b", "completed", 3.0, "max")
    record("c", "diverged", 9.0, "max")
    record("d", "completed", 2.0, "max")
    assert [p.name for p, _ in best_trials(tmp_path, "m", 2)] == ["b", "d"]
    assert trial_overrides(best_trials(tmp_path, "m", 1)[0][1]) == ["x=b"]


def test_without_a_metric_the_trials_are_ranked_by_the_one_they_optimised(tmp_path):
    # The first declared metric (modes_captured) ranks a above b; the metric the trials returned to
    # their sweeper (optimized_metric in their config.yaml: mode_tv, lower is better) ranks b first.
    for name, modes, tv in (("a", 8, 0.4), ("b", 7, 0.1)):
        d = tmp_path / name
        d.mkdir()
        (d / "summary.json").write_text(json.dumps({
            "status": "completed", "iterations": 1, "seed": 0, "choices": {},
            "metrics": {"modes_captured": modes, "mode_tv": tv},
            "directions": {"modes_captured": "max", "mode_tv": "min"}}))  # fmt: skip
        (d / "config.yaml").write_text("optimized_metric: mode_tv\n")
    assert [p.name for p, _ in best_trials(tmp_path, None, 2)] == ["b", "a"]
    assert [p.name for p, _ in best_trials(tmp_path, "modes_captured", 2)] == ["a", "b"]


def test_a_bad_study_file_is_named(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: x\ndatasets: [ring]\ntrials: 2\ntop_k: 3\nseeds: [1]\nlosses: {}\n")
    with pytest.raises(StudyError, match="top_k=3 is more than trials=2"):
        load_study_file(spec)


def test_a_four_trial_search_records_the_metric_and_a_failing_trial(tmp_path):
    """Through ganbench-train and the Optuna sweeper: trials with a negative penalty weight are
    refused (a user error), recorded as failed and counted at the worst value; the search goes on."""
    import optuna

    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    storage = tmp_path / "optuna.db"
    cmd = [sys.executable, "-m", "ganbench.train", "-m", "hparams_search=wasserstein", "regularizer.kind=gp",
           "iterations=10", "eval.every=null", "checkpoint.every=null", "trainer.enable_progress_bar=false",
           "hydra.sweeper.n_trials=4", f"hydra.sweeper.storage=sqlite:///{storage}", "hydra.sweeper.study_name=s",
           "regularizer.weight=choice(-1.0, 1.0)", f"hydra.sweep.dir={tmp_path / 'sweep'}"]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    trials = optuna.load_study(study_name="s", storage=f"sqlite:///{storage}").trials
    assert len(trials) == 4
    assert {t.params["regularizer.weight"] for t in trials} == {-1.0, 1.0}  # (the sampler is seeded)
    records = {
        int(p.parent.name.split("_")[0]): json.loads(p.read_text()) for p in (tmp_path / "sweep").glob("*/summary.json")
    }
    assert len(records) == 4
    for trial in trials:
        record = records[trial.number]
        # the sampled penalty is named as the option it builds, as the study's seed runs name it
        weight = f"{trial.params['regularizer.weight']:g}"
        assert record["choices"]["regularizer"] == "gp"
        assert record["objective"] == {"loss": "wasserstein", "regularizer": f"gp(weight={weight})"}
        assert Path(record["run_dir"]).name == f"{trial.number}_wasserstein_gp_weight{weight}_s0"
        if trial.params["regularizer.weight"] < 0:
            assert record["status"] == "failed" and "weight" in record["error"]
            assert trial.value == float("inf")  # mode_tv is minimised: the worst value
        else:
            assert record["status"] == "completed"
            assert trial.value == pytest.approx(record["metrics"]["mode_tv"])
            assert record["trial"]["number"] == trial.number


def test_the_best_trial_is_marked_in_its_wandb_run_summary(tmp_path, monkeypatch):
    import wandb

    from test_wandb import read_records

    for var in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    trial = tmp_path / "trial"
    trial.mkdir()
    (trial / "config.yaml").write_text("logger:\n  wandb:\n    project: ganbench\n    entity: null\n")
    run = wandb.init(project="ganbench", dir=str(trial), mode="offline", settings=wandb.Settings(silent=True))
    run.log({"mode_tv": 0.1})
    run_id = run.id
    run.finish()

    assert mark_best_in_wandb(trial, "toy", 1) == run_id
    assert mark_best_in_wandb(trial, "toy", 1) == run_id  # a second pass of the study marks nothing new
    runs = sorted(trial.glob("wandb/offline-run-*/run-*.wandb"))
    assert len(runs) == 2  # the trial's run and its update: `wandb sync` uploads both to the same run id
    updates = {}
    for path in runs:
        for record in read_records(path):
            kind = record.WhichOneof("record_type")
            if kind == "run":
                assert record.run.run_id == run_id
            if kind == "summary":
                updates.update({u.key: json.loads(u.value_json) for u in record.summary.update if u.key})
    assert updates["best_trial"] is True and updates["best_trial_rank"] == 1 and updates["study"] == "toy"
    assert mark_best_in_wandb(tmp_path / "trial_without_wandb", "toy", 1) is None


def test_trial_overrides_come_from_the_trials_own_hydra_files(tmp_path):
    # a record whose params lack a sampled config-group choice (as written before `+` keys were
    # kept): the trial's .hydra files still rebuild its whole setting
    hydra_dir = tmp_path / ".hydra"
    hydra_dir.mkdir()
    (hydra_dir / "hydra.yaml").write_text(
        "hydra:\n  sweeper:\n    params:\n      n_critic: choice(1, 2)\n"
        "      +optimizer/scheduler: choice(constant, linear)\n"
    )
    (hydra_dir / "overrides.yaml").write_text("- n_critic=2\n- +optimizer/scheduler=linear\n- dataset=ring\n")
    record = {"trial": {"number": 0, "params": {"n_critic": "2"}}}
    assert trial_overrides(record, tmp_path) == ["n_critic=2", "+optimizer/scheduler=linear"]
    assert trial_overrides(record) == ["n_critic=2"]  # the record alone
    assert trial_overrides(record, tmp_path / "missing") == ["n_critic=2"]


def test_a_sampled_penalty_becomes_the_plain_regularizer_option(tmp_path):
    hydra_dir = tmp_path / ".hydra"
    hydra_dir.mkdir()
    (hydra_dir / "hydra.yaml").write_text(
        "hydra:\n  sweeper:\n    params:\n      n_critic: choice(1, 2)\n"
        "      regularizer.kind: choice(none, gp, r1)\n      regularizer.weight: tag(log, interval(0.1, 100))\n"
    )
    (hydra_dir / "overrides.yaml").write_text("- n_critic=2\n- regularizer.kind=r1\n- regularizer.weight=0.5\n")
    assert trial_overrides({}, tmp_path) == ["n_critic=2", "regularizer=r1", "regularizer.gamma=0.5"]
    record = {"trial": {"params": {"regularizer.kind": "none", "regularizer.weight": "7"}}}
    assert trial_overrides(record) == ["regularizer=none"]  # no weight to set
    record = {"trial": {"params": {"regularizer.kind": "clip", "regularizer.weight": "7"}}}
    assert trial_overrides(record) == ["regularizer=clip"]


def test_each_dataset_and_loss_draws_its_own_candidates():
    import hashlib

    # a stable hash of (study seed, dataset, loss, trials done), not Python's salted hash()
    expected = int.from_bytes(hashlib.sha256(b"0/ring/hinge/0").digest()[:4], "big") >> 1
    assert sampler_seed(0, "ring", "hinge") == expected
    seeds = {sampler_seed(0, d, loss) for d in ("ring", "grid") for loss in ("hinge", "minimax", "wasserstein")}
    assert len(seeds) == 6 and all(0 <= s < 2**31 for s in seeds)
    assert sampler_seed(1, "ring", "hinge") != expected != sampler_seed(0, "ring", "hinge", done=3)
    # the seed comes from a fresh interpreter the same (PYTHONHASHSEED differs between processes)
    code = "from ganbench.study import sampler_seed; print(sampler_seed(0, 'ring', 'hinge'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT / "src"), "PYTHONHASHSEED": "random"})  # fmt: skip
    assert int(out.stdout) == expected


UNDERPOWERED = """
name: few
datasets: [ring]
trials: 2
top_k: 1
seeds: [1, 2, 3, 4, 5]
losses: {minimax: {search: sigmoid}, nonsaturating: {search: sigmoid}, least_squares: {search: least_squares},
         hinge: {search: hinge}, wasserstein: {search: wasserstein}}
"""


def test_a_design_that_cannot_reach_significance_is_refused_in_one_line(tmp_path, capsys):
    spec = tmp_path / "few.yaml"
    spec.write_text(UNDERPOWERED)
    root = tmp_path / "study"
    assert main([str(spec), "--dir", str(root)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    # 5 losses: 10 pairs × 2 / C(10, 5) = 0.079 > 0.05; 6 seeds give 10 × 2 / C(12, 6) = 0.022
    assert "smallest Holm-adjusted p" in err and "0.0794" in err and "use at least 6 seeds" in err
    assert "allow_underpowered: true" in err
    assert not root.exists()
    spec.write_text(UNDERPOWERED + "allow_underpowered: true\n")
    assert load_study_file(spec)["seeds"] == [1, 2, 3, 4, 5]
    # the seed stage defaults to 10 seeds, enough for 5 losses
    spec.write_text(UNDERPOWERED.replace("seeds: [1, 2, 3, 4, 5]\n", ""))
    assert load_study_file(spec)["seeds"] == list(range(100, 110))


def test_a_study_directory_has_one_owner(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("ganbench.study.LOCK_WAIT_SECONDS", 0.5)
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    root = tmp_path / "study"
    assert main([str(spec), "--dir", str(root), "--status"]) == 2  # no study there yet
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist: no study has started there" in err
    with owning(root):
        assert main([str(spec), "--dir", str(root), "--dry-run"]) == 2
        err = capsys.readouterr().err
        # --status reads a study while it runs: nothing run yet, the ablation not planned
        assert main([str(spec), "--dir", str(root), "--status"]) == 0
        out = capsys.readouterr().out.splitlines()
    assert err.count("\n") == 1 and "is in use by another ganbench-study" in err
    assert out[0].endswith("0 of 5 runs ended")
    assert out[1:] == ["dataset  loss   search  seeds", "ring     hinge  0/3     0/2"]
    assert main([str(spec), "--dir", str(root), "--dry-run"]) == 0


def test_only_the_trials_that_reported_are_candidates(tmp_path):
    """A run whose trial was stopped before it reported to Optuna (PRUNED on the rerun) is not part
    of the budget, even when its record says completed."""
    for pass_dir, job, value in (("from0000", "0", 0.5), ("from0000", "1", 0.1), ("from0002", "0", 0.3)):
        d = tmp_path / pass_dir / job
        d.mkdir(parents=True)
        (d / "summary.json").write_text(json.dumps({
            "status": "completed", "iterations": 1, "seed": 0, "choices": {}, "metrics": {"m": value},
            "directions": {"m": "min"}}))  # fmt: skip
    assert optuna_trial_number(tmp_path / "from0002" / "0") == 2
    assert optuna_trial_number(tmp_path / "from0000" / "1") == 1
    assert optuna_trial_number(tmp_path / "elsewhere" / "1") is None
    assert [p.name for p, _ in best_trials(tmp_path, "m", 1)] == ["1"]
    best = best_trials(tmp_path, "m", 1, counted={0, 2})
    assert [(p.parent.name, p.name) for p, _ in best] == [("from0002", "0")]


def test_a_trial_left_running_is_marked_pruned_and_the_others_are_kept(tmp_path):
    import optuna

    from ganbench.study import abandon_running_trials

    storage = tmp_path / "optuna.db"
    url = f"sqlite:///{storage}"
    for name in ("ring-minimax", "ring-hinge"):
        study = optuna.create_study(study_name=name, storage=url)
        study.tell(study.ask(), 1.0)  # COMPLETE
        study.ask()  # left RUNNING, as by a killed run
    assert abandon_running_trials(storage) == 2
    for name in ("ring-minimax", "ring-hinge"):
        states = [t.state for t in optuna.load_study(study_name=name, storage=url).trials]
        assert states == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED]
    assert abandon_running_trials(storage) == 0


def test_status_says_how_long_the_runs_left_take_at_the_median_run_time(tmp_path):
    def record(where: str, status: str, **extra) -> None:
        d = tmp_path / where
        d.mkdir(parents=True)
        (d / "summary.json").write_text(json.dumps({
            "status": status, "iterations": 1, "seed": 0, "choices": {}, "metrics": {}, **extra}))  # fmt: skip

    spec = {"search_overrides": ["hydra.sweeper.n_jobs=2"]}
    assert time_left(spec, tmp_path, 5) == []  # nothing ended: no estimate
    record("ring/hinge/search/from0000/0", "completed", wall_seconds=600.0)
    record("ring/hinge/search/from0000/1", "diverged", wall_seconds=900.0, wall_seconds_before=300.0)  # 1,200 s
    record("ring/hinge/seeds/top1/s1", "completed", wall_seconds=300.0)
    record("ring/hinge/seeds/top1/s2", "running", wall_seconds=5000.0)  # not ended: not counted
    # the median of 600, 1,200 and 300 s is 10 min: 7 runs take 70 min, 35 at 2 at a time; 4 more 40 min
    assert time_left(spec, tmp_path, 7, unknown=4) == [
        "time: a run took a median of 10 min (wall time, over the 3 runs ended); the 7 runs left take about "
        "70 min of run time, 35 min at 2 at a time (hydra.sweeper.n_jobs); the ablations not planned yet, up to "
        "40 min more of run time"
    ]
    assert time_left({}, tmp_path, 12) == [  # 120 min; without n_jobs no "at a time"
        "time: a run took a median of 10 min (wall time, over the 3 runs ended); the 12 runs left take about 2.0 h "
        "of run time"
    ]
    assert time_left(spec, tmp_path, 0) == []  # nothing left


def test_lanes_deal_out_the_cores_and_the_estimate_counts_them(tmp_path, monkeypatch):
    from ganbench.study import lanes, runs_at_once

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert lanes(1) == [None]  # one lane: not pinned
    assert lanes(2) == [{0, 2}, {1, 3}]
    assert lanes(3) == [{0, 3}, {1}, {2}]
    assert lanes(8) == [{0}, {1}, {2}, {3}]  # no more lanes than cores
    assert runs_at_once({"parallel": 2, "search_overrides": ["hydra.sweeper.n_jobs=1"]}) == (2, "parallel: 2")
    assert runs_at_once({"search_overrides": ["hydra.sweeper.n_jobs=2"]}) == (2, "hydra.sweeper.n_jobs")
    assert runs_at_once({}) is None
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {5})
    assert lanes(2) == [None] and runs_at_once({"parallel": 2}) is None  # one core: one lane


@pytest.mark.parametrize("value", [0, -1, "two", True, 1.5])
def test_a_bad_parallel_is_named(tmp_path, value):
    spec = tmp_path / "study.yaml"
    spec.write_text(TINY + f"parallel: {json.dumps(value)}\n")
    with pytest.raises(StudyError, match=r"parallel=.*: give how many \(dataset, loss\) pipelines run at once"):
        load_study_file(spec)


def test_a_continued_search_records_optunas_trial_numbers(tmp_path):
    """A second search pass (more trials asked of a storage that holds some) numbers its runs as
    Optuna does, not by their job in the pass; the trial.json of the seed stage says the same, and a
    stale one (a number from before) is corrected when the study continues."""
    import optuna

    spec, root = tmp_path / "tiny.yaml", tmp_path / "study"
    spec.write_text(TINY.replace("trials: 3", "trials: 2") + "allow_underpowered: true\n")
    assert study(spec, root).returncode == 0
    spec.write_text(TINY.replace("trials: 3", "trials: 4") + "allow_underpowered: true\n")
    done = study(spec, root)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    search = root / "ring" / "hinge" / "search"
    assert sorted(p.relative_to(search).as_posix() for p in search.glob("*/*/summary.json")) == [
        "from0000/0/summary.json", "from0000/1/summary.json", "from0002/0/summary.json", "from0002/1/summary.json"
    ]  # fmt: skip
    trials = optuna.load_study(study_name="ring-hinge", storage=f"sqlite:///{root / 'optuna.db'}").trials
    by_lr = {t.params["optimizer.generator.lr"]: t.number for t in trials}
    assert sorted(by_lr.values()) == [0, 1, 2, 3]
    for path in search.glob("*/*/summary.json"):
        trial = json.loads(path.read_text())["trial"]
        assert trial["number"] == by_lr[float(trial["params"]["optimizer.generator.lr"])]
    seeds = root / "ring" / "hinge" / "seeds" / "top1"
    saved = json.loads((seeds / "trial.json").read_text())
    job = Path(saved["trial_dir"])
    assert saved["trial"]["number"] == by_lr[float(saved["trial"]["params"]["optimizer.generator.lr"])]
    assert saved["trial"]["number"] == int(job.parent.name[4:]) + int(job.name)
    # a trial.json that names another number (as one written before runs knew theirs, with the job's
    # number of a second pass): set right on the next start, the runs untouched
    stale = {**saved, "trial": {**saved["trial"], "number": saved["trial"]["number"] + 7}}
    (seeds / "trial.json").write_text(json.dumps(stale))
    before = {p: p.stat().st_mtime_ns for p in root.rglob("summary.json")}
    again = study(spec, root)
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads((seeds / "trial.json").read_text()) == saved
    assert f"seeds of trial {saved['trial']['number']} (rank 1): all 2 runs completed" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in root.rglob("summary.json")} == before


def test_a_trial_recorded_with_its_job_number_is_named_by_its_optuna_number(tmp_path):
    """Search runs recorded before ganbench offset their number (job 8 of the pass that started at
    trial 8 said "number": 8): the seed stage's trial.json names Optuna's trial, 16."""
    from ganbench.study import _write_trial

    trial_dir = tmp_path / "ring" / "minimax" / "search" / "from0008" / "8"
    _write_trial(tmp_path / "seeds", trial_dir, {"trial": {"number": 8, "params": {"n_critic": "4"}}})
    saved = json.loads((tmp_path / "seeds" / "trial.json").read_text())
    assert saved == {"trial_dir": str(trial_dir), "trial": {"number": 16, "params": {"n_critic": "4"}}}
