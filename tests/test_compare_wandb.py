"""``ganbench-compare --wandb``, offline: the comparison's W&B run read back from its own files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import wandb
from PIL import Image

from ganbench.compare import main
from test_compare import write_run
from test_wandb import offline_run


@pytest.fixture
def offline(tmp_path, monkeypatch):
    for var in ("WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE", "WANDB_BASE_URL", "NETRC"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))


def _study(root: Path) -> Path:
    """Two losses of a study whose runs logged to the W&B group ``toy`` (project gan-losses)."""
    for loss, kl in (("ns", [0.1, 0.2, 0.3, 0.4, 0.5]), ("w", [1.1, 1.2, 1.3, 1.4, 1.5])):
        top = root / "ring" / loss / "seeds" / "top1"
        for seed, value in enumerate(kl):
            run = write_run(top, f"s{seed}", loss=loss, seed=seed, lr=2e-4,
                            metrics={"modes_captured": 8, "high_quality": 0.5, "reverse_kl": value})  # fmt: skip
            with open(run / "config.yaml", "a") as f:
                f.write("logger:\n  wandb: {group: toy, project: gan-losses, entity: null}\n")
            (run / "plots").mkdir()  # the run's last evaluation plot: the sample figure's panel
            Image.new("RGB", (40, 40), (200, 0, 0)).save(run / "plots" / "samples_000100.png")
        trial = {"number": 0, "params": {"optimizer.generator.lr": "0.0002"}}
        (top / "trial.json").write_text(json.dumps({"trial_dir": "t", "trial": trial}))
    # and the search of a third loss, on the grid: three trials, three settings (a budget curve)
    for number, (lr, kl) in enumerate(((1e-3, 0.4), (2e-4, 0.2), (5e-4, 0.3))):
        run = write_run(root / "grid" / "hinge" / "search", str(number), loss="hinge", dataset="grid", lr=lr,
                        metrics={"modes_captured": 20, "high_quality": 0.5, "reverse_kl": kl})  # fmt: skip
        with open(run / "config.yaml", "a") as f:
            f.write("logger:\n  wandb: {group: toy, project: gan-losses, entity: null}\n")
        record = json.loads((run / "summary.json").read_text())
        record["trial"] = {"number": number, "params": {"optimizer.generator.lr": str(lr)}}
        (run / "summary.json").write_text(json.dumps(record))
    return root


def _logged(history: dict, key: str) -> dict:
    """The value logged under ``key`` (a table or an image: its fields, which the history flattens)."""
    return {k[len(key) + 1 :]: v for k, v in history.items() if k.startswith(key + "/")}


def _table(run_dir: Path, history: dict, key: str) -> dict:
    ref = _logged(history, key)
    assert ref["_type"] == "table-file"
    return json.loads((run_dir / "files" / ref["path"]).read_text())


def test_the_comparison_is_one_wandb_run_in_the_study_group(tmp_path, offline, capsys):
    out = tmp_path / "out"
    assert main([str(_study(tmp_path / "study")), "--by", "loss", "--out", str(out), "--wandb"]) == 0
    assert "logged the comparison to W&B (job_type compare, group toy)" in capsys.readouterr().out
    (run_dir,) = (out / "wandb").glob("offline-run-*")
    wandb.teardown()  # the W&B service writes the run's file: wait until it has written all of it
    logged = offline_run(out)
    assert logged["run"].job_type == "compare" and logged["run"].run_group == "toy"
    assert logged["run"].project == "gan-losses"
    assert logged["config"]["by"] == ["loss"] and logged["config"]["runs"] == 13
    (history,) = logged["history"]

    tuned = _table(run_dir, history, "tuned")
    col = {c: i for i, c in enumerate(tuned["columns"])}
    ns = next(r for r in tuned["data"] if r[col["loss"]] == "ns")
    assert ns[col["reverse_kl_mean"]] == pytest.approx(0.3)  # (0.1 + … + 0.5) / 5
    assert ns[col["reverse_kl_median_ci_low"]] <= ns[col["reverse_kl_median"]] <= ns[col["reverse_kl_median_ci_high"]]
    assert ns[col["reverse_kl_median_ci_coverage"]] == pytest.approx(1 - 2 / 2**5)  # 5 runs: [min, max]
    assert ns[col["hyperparameters"]] == "optimizer.generator.lr=0.0002"

    sig = _table(run_dir, history, "significance")
    col = {c: i for i, c in enumerate(sig["columns"])}
    kl = next(r for r in sig["data"] if r[col["metric"]] == "reverse_kl")
    # 5 against 5, completely separated: exact p = 2 / C(10, 5); one pair, Holm changes nothing
    assert kl[col["p"]] == pytest.approx(2 / 252) and kl[col["p_holm"]] == pytest.approx(2 / 252)
    assert kl[col["better"]] == "ns" and kl[col["prob_a_better"]] == pytest.approx(1.0)

    effects = _table(run_dir, history, "effect_sizes")
    col = {c: i for i, c in enumerate(effects["columns"])}
    kl = next(r for r in effects["data"] if r[col["metric"]] == "reverse_kl")
    assert (kl[col["first"]], kl[col["second"]], kl[col["significant"]]) == ("ns", "w", True)
    assert kl[col["median_difference"]] == pytest.approx(-1.0)  # median of the 25 differences ns − w

    budget = _table(run_dir, history, "budget")
    col = {c: i for i, c in enumerate(budget["columns"])}
    assert {r[col["group"]] for r in budget["data"]} == {"hinge"}  # the seed runs of one trial have none
    kl = [r[col["expected_best"]] for r in budget["data"] if r[col["metric"]] == "reverse_kl"]
    assert kl == pytest.approx([0.3, 0.7 / 3, 0.2])  # best of k of {0.4, 0.2, 0.3}, lower is better, by hand
    # the figures: the samples of each dataset, the budget curves
    for figure in ("samples_ring", "budget_reverse_kl", "budget_modes_captured"):
        image = _logged(history, f"figures/{figure}")
        assert image["_type"] == "image-file" and (run_dir / "files" / image["path"]).is_file()


def test_wandb_options_without_wandb_are_refused(tmp_path, capsys):
    write_run(tmp_path / "runs", "a", loss="hinge", metrics={"modes_captured": 8})
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path / "runs"), "--wandb-group", "toy"])
    assert exc.value.code == 2
    assert "--wandb-group and --wandb-project go with --wandb: add --wandb" in capsys.readouterr().err
    assert not (tmp_path / "runs" / "comparison").exists()


def test_a_tuned_comparison_with_search_carries_the_search_s_budget_curves(tmp_path, offline, capsys):
    study = _study(tmp_path / "study")
    seeds = [str(p) for p in sorted(study.glob("*/*/seeds"))]
    out = tmp_path / "out"
    assert (
        main([*seeds, "--by", "loss", "--out", str(out), "--wandb", "--search", str(study / "grid/hinge/search")]) == 0
    )
    capsys.readouterr()
    (run_dir,) = (out / "wandb").glob("offline-run-*")
    wandb.teardown()
    logged = offline_run(out)
    assert logged["config"]["runs"] == 10  # the tuned runs only
    (history,) = logged["history"]
    tuned = _table(run_dir, history, "tuned")
    assert {r[tuned["columns"].index("loss")] for r in tuned["data"]} == {"ns", "w"}
    budget = _table(run_dir, history, "budget")
    col = {c: i for i, c in enumerate(budget["columns"])}
    kl = [r[col["expected_best"]] for r in budget["data"] if r[col["metric"]] == "reverse_kl"]
    assert {r[col["group"]] for r in budget["data"]} == {"hinge"}
    assert kl == pytest.approx([0.3, 0.7 / 3, 0.2])  # best of k of the search's {0.4, 0.2, 0.3}, by hand
    for figure in ("samples_ring", "budget_reverse_kl"):
        assert _logged(history, f"figures/{figure}")["_type"] == "image-file"
