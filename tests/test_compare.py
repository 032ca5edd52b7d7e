"""ganbench-compare on run directories written by the test, with numbers checked by hand."""

from __future__ import annotations

import csv
import json
import math
import os
import statistics
from pathlib import Path

import matplotlib.image as mpimg
import pytest

from ganbench.compare import CompareError, band, compare, main, metric_direction, parse_args, read_metrics_csv
from ganbench.statistics import best_of_k, holm

ROOT = Path(__file__).resolve().parents[1]
TOY_DIRECTIONS = {"modes_captured": "max", "high_quality": "max", "reverse_kl": "min"}


def write_run(
    root: Path,
    name: str,
    *,
    loss: str,
    regularizer: str = "none",
    dataset: str = "ring",
    status: str = "completed",
    metrics: dict | None = None,
    iterations: int = 100,
    seed: int = 0,
    curve: list[tuple[int, float]] | None = None,
    n_critic: int = 1,
    directions: dict | None = TOY_DIRECTIONS,
    objective: dict | None = None,
    loss_config: str = "{_target_: ganbench.losses.NonSaturatingLoss}",
    lr: float = 1e-3,
) -> Path:
    """A run directory as ganbench-train leaves it: summary.json, config.yaml, metrics.csv.
    ``directions=None`` writes a record from before the evaluators declared directions."""
    run = root / name
    run.mkdir(parents=True)
    summary = {
        "status": status,
        "iterations": iterations,
        "seed": seed,
        "choices": {"dataset": dataset, "model": "mlp", "loss": loss, "regularizer": regularizer},
        "metrics": metrics or {},
        "wall_seconds": 10.0 + seed,
        "run_dir": str(run),
    }
    if directions is not None:
        summary["directions"] = directions
        summary["info"] = {"num_modes": 8 if dataset == "ring" else 25}
    if objective is not None:
        summary["objective"] = objective
    if status == "failed":
        summary["error"] = "ValueError: boom"
    (run / "summary.json").write_text(json.dumps(summary, indent=2))
    (run / "config.yaml").write_text(
        f"seed: {seed}\niterations: {iterations}\nn_critic: {n_critic}\neval:\n  num_samples: 2500\n"
        f"loss: {loss_config}\noptimizer:\n  generator: {{lr: {lr}}}\n  discriminator: {{lr: {lr}}}\n"
    )
    with open(run / "metrics.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["d_loss", "iteration", "modes_captured", "step"])
        for it, value in curve or []:
            w.writerow([0.5, it, "", it])  # a training-loss row, without the metric
            w.writerow(["", it, value, it])
    return run


# (loss, seed, status, final metrics, modes_captured curve in metrics.csv)
SWEEP = [
    # minimax: 3 completed runs, 1 diverged (its metrics must not count), 1 failed
    ("minimax", 0, "completed", {"modes_captured": 6, "high_quality": 0.9, "reverse_kl": 0.5},
     [(50, 2), (100, 6)]),
    ("minimax", 1, "completed", {"modes_captured": 7, "high_quality": 0.8, "reverse_kl": 0.3},
     [(50, 4), (100, 7)]),
    ("minimax", 2, "completed", {"modes_captured": 8, "high_quality": 1.0, "reverse_kl": 0.1},
     [(50, 6), (100, 8)]),
    ("minimax", 3, "diverged", {"modes_captured": 1, "high_quality": 0.0, "reverse_kl": 2.0}, [(50, 1)]),
    ("minimax", 4, "failed", {}, []),
    # nonsaturating: 2 completed runs
    ("nonsaturating", 0, "completed", {"modes_captured": 8, "high_quality": 0.95, "reverse_kl": 0.05},
     [(50, 8), (100, 8)]),
    ("nonsaturating", 1, "completed", {"modes_captured": 8, "high_quality": 0.85, "reverse_kl": 0.15},
     [(50, 8), (100, 8)]),
]  # fmt: skip


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    root = tmp_path / "multirun"
    for i, (loss, seed, status, metrics, curve) in enumerate(SWEEP):
        write_run(root, f"{i}_{loss}_none_s{seed}", loss=loss, seed=seed, status=status, metrics=metrics, curve=curve)
    return root


def read_csv(path: Path) -> dict[tuple[str, ...], dict[str, str]]:
    rows = list(csv.DictReader(open(path)))
    return {(r["loss"], r["regularizer"]): r for r in rows}


def test_statistics_per_group_match_hand_computation(sweep, tmp_path):
    result = compare([sweep], out=tmp_path / "out")
    by_key = {s.key: s for s in result.stats}
    assert list(by_key) == [("minimax", "none"), ("nonsaturating", "none")]

    mm = by_key[("minimax", "none")]
    assert (mm.n, mm.completed, mm.diverged, mm.failed) == (5, 3, 1, 1)
    assert mm.failure_rate == pytest.approx(2 / 5)
    # modes 6, 7, 8: mean 7, sample variance ((−1)² + 0² + 1²) / 2 = 1
    assert mm.metrics["modes_captured"].mean == pytest.approx(7.0)
    assert mm.metrics["modes_captured"].std == pytest.approx(1.0)
    assert mm.metrics["modes_captured"].best == 8
    # high quality 0.9, 0.8, 1.0: mean 0.9, variance (0.01 + 0.01) / 2 = 0.01
    assert mm.metrics["high_quality"].mean == pytest.approx(0.9)
    assert mm.metrics["high_quality"].std == pytest.approx(0.1)
    assert mm.metrics["high_quality"].best == pytest.approx(1.0)
    # reverse KL 0.5, 0.3, 0.1: lower is better, so the best is 0.1; variance (0.04 + 0.04) / 2
    assert mm.metrics["reverse_kl"].mean == pytest.approx(0.3)
    assert mm.metrics["reverse_kl"].std == pytest.approx(0.2)
    assert mm.metrics["reverse_kl"].best == pytest.approx(0.1)
    assert "num_modes" not in mm.metrics  # info, a property of the benchmark, not a result
    # the median of 0.9, 0.8, 1.0 and its order-statistic interval: 3 runs reach no 95 % interval,
    # so [min, max], which covers the median unless all 3 fall on one side: 1 − 2 · (½)³ = 75 %
    hq = mm.metrics["high_quality"]
    assert (hq.median, hq.median_low, hq.median_high) == (0.9, 0.8, 1.0)
    assert hq.median_coverage == pytest.approx(0.75)
    assert mm.wall_seconds == pytest.approx((10 + 11 + 12) / 3)

    ns = by_key[("nonsaturating", "none")]
    assert (ns.n, ns.failure_rate) == (2, 0.0)
    assert ns.metrics["modes_captured"].std == 0.0
    # 0.95 and 0.85: mean 0.9, sample std sqrt(2 · 0.05² / 1) = 0.0707…
    assert ns.metrics["high_quality"].std == pytest.approx(math.sqrt(2 * 0.05**2))
    assert ns.metrics["reverse_kl"].best == pytest.approx(0.05)
    assert result.warnings == []


def test_files_written_table_csv_and_plots(sweep, tmp_path):
    out = tmp_path / "out"
    compare([sweep], out=out)
    rows = read_csv(out / "comparison.csv")
    mm = rows[("minimax", "none")]
    assert (mm["runs"], mm["completed"], mm["diverged"], mm["failed"]) == ("5", "3", "1", "1")
    assert float(mm["failure_rate"]) == pytest.approx(0.4)
    assert float(mm["modes_captured_mean"]) == pytest.approx(7.0)
    assert float(mm["modes_captured_std"]) == pytest.approx(1.0)
    assert float(mm["reverse_kl_best"]) == pytest.approx(0.1)
    assert int(mm["reverse_kl_n"]) == 3
    assert [float(mm[f"reverse_kl_{c}"]) for c in ("median", "median_ci_low", "median_ci_high")] == [0.3, 0.1, 0.5]
    assert float(mm["reverse_kl_median_ci_coverage"]) == pytest.approx(0.75)

    md = (out / "comparison.md").read_text()
    assert "| median [interval] (its coverage) |" in md
    assert "| minimax | none | 5 | 40% (2/5) | 7 ± 1 | 7 [6, 8] (75%) | 8 |" in md
    assert "| 0.3 ± 0.2 | 0.3 [0.1, 0.5] (75%) | 0.1 |" in md
    # two runs: [min, max] covers the median half the time (both values below it: ¼, both above: ¼)
    assert "| nonsaturating | none | 2 | 0% (0/2) | 8 ± 0 | 8 [8, 8] (50%) | 8 |" in md
    # one plot per metric that metrics.csv has curves for (these files only log modes_captured),
    # and a budget curve per metric with a direction
    assert "![modes_captured](modes_captured.png)" in md
    budget = ["budget_high_quality.png", "budget_modes_captured.png", "budget_reverse_kl.png"]
    # and no sample figure: no run kept a plot or a checkpoint to draw one from
    assert sorted(p.name for p in out.glob("*.png")) == [*budget, "modes_captured.png"]
    image = mpimg.imread(out / "modes_captured.png")
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def test_band_is_the_median_and_quartiles_over_seeds_at_each_iteration():
    xs, medians, lows, highs = band([[(50, 2), (100, 6)], [(50, 4), (100, 7)], [(50, 6), (100, 8)], [(50, 1)]])
    assert xs == [50, 100]
    # at 50: sorted 1, 2, 4, 6 → median 3; 25 % at position 0.75 → 1 + 0.75 · 1 = 1.75; 75 % at 2.25 →
    # 4 + 0.25 · 2 = 4.5. At 100: 6, 7, 8 → median 7, quartiles 6.5 and 7.5
    assert medians == pytest.approx([3.0, 7.0])
    assert lows == pytest.approx([1.75, 6.5]) and highs == pytest.approx([4.5, 7.5])
    assert band([[(10, 5.0)]]) == ([10], [5.0], [5.0], [5.0])


def test_bands_stay_within_the_values_where_one_std_leaves_the_range():
    """modes_captured 0, 0, 0, 8 over seeds: mean − std = 2 − 4 = −2 modes, impossible; the quartile
    band stays within [0, 8]."""
    values = [0.0, 0.0, 0.0, 8.0]
    _, _, lows, highs = band([[(100, v)] for v in values])
    assert statistics.fmean(values) - statistics.stdev(values) == pytest.approx(-2.0)
    assert lows == [0.0] and highs == [2.0]  # 75 %: position 2.25 between 0 and 8 → 0 + 0.25 · 8


def test_group_by_other_keys_and_warnings_for_unfair_groups(tmp_path):
    root = tmp_path / "runs"
    write_run(root, "a", loss="hinge", dataset="ring", iterations=100, metrics={"modes_captured": 8})
    write_run(root, "b", loss="hinge", dataset="grid", iterations=200, metrics={"modes_captured": 20}, n_critic=5)
    result = compare([root], out=tmp_path / "o1", plots=False)
    assert result.significance == []  # ring and grid runs are never tested against each other
    assert len(result.stats) == 1 and result.stats[0].metrics["modes_captured"].mean == pytest.approx(14.0)
    text = " ".join(result.warnings)
    assert "mixes datasets: grid, ring" in text and "mixes iteration budgets: 100, 200" in text
    assert "Warnings" in (tmp_path / "o1" / "comparison.md").read_text()

    split = compare([root], by=["dataset", "loss"], out=tmp_path / "o2", plots=False)
    assert [s.key for s in split.stats] == [("grid", "hinge"), ("ring", "hinge")]
    assert all(s.metrics["modes_captured"].n == 1 for s in split.stats)
    assert math.isnan(split.stats[0].metrics["modes_captured"].std)  # one run: no spread
    assert not any("datasets" in w for w in split.warnings)
    # a config.yaml key works as a grouping key too
    by_critic = compare([root / "a", root / "b"], by=["n_critic"], out=tmp_path / "o3", plots=False)
    assert [s.key for s in by_critic.stats] == [("1",), ("5",)]


def test_a_resumed_run_counts_all_its_wall_time(tmp_path):
    # wall_seconds is the last stretch of a resumed run; wall_seconds_before the stretches before it
    root = tmp_path / "runs"
    write_run(root, "whole", loss="hinge", seed=0, metrics={"modes_captured": 8})  # 10 s (10 + seed)
    resumed = write_run(root, "resumed", loss="hinge", seed=1, metrics={"modes_captured": 8})  # 11 s after resuming
    record = json.loads((resumed / "summary.json").read_text())
    (resumed / "summary.json").write_text(json.dumps({**record, "resumed_from": 50, "wall_seconds_before": 29.0}))
    result = compare([root], out=tmp_path / "out", plots=False)
    assert result.stats[0].wall_seconds == pytest.approx((10 + (11 + 29)) / 2)


def test_cpu_time_is_a_column_where_every_run_of_a_group_records_it(tmp_path):
    root = tmp_path / "runs"
    for seed, cpu in ((0, 4.0), (1, 6.0)):
        run = write_run(root / "hinge", str(seed), loss="hinge", seed=seed, metrics={"modes_captured": 8})
        record = json.loads((run / "summary.json").read_text())
        (run / "summary.json").write_text(json.dumps({**record, "cpu_seconds": cpu}))
    resumed = write_run(root / "hinge", "2", loss="hinge", seed=2, metrics={"modes_captured": 8})
    record = json.loads((resumed / "summary.json").read_text())
    extra = {"cpu_seconds": 1.0, "resumed_from": 5, "cpu_seconds_before": 7.0}
    (resumed / "summary.json").write_text(json.dumps({**record, **extra}))
    write_run(root / "minimax", "0", loss="minimax", seed=0, metrics={"modes_captured": 7})  # an older record
    result = compare([root], out=tmp_path / "out", plots=False)
    by_loss = {s.key[0]: s for s in result.stats}
    assert by_loss["hinge"].cpu_seconds == pytest.approx((4 + 6 + (1 + 7)) / 3)
    assert math.isnan(by_loss["minimax"].cpu_seconds)
    rows = {r["loss"]: r for r in csv.DictReader((tmp_path / "out" / "comparison.csv").open())}
    assert float(rows["hinge"]["cpu_seconds_mean"]) == pytest.approx(6.0)
    assert rows["minimax"]["cpu_seconds_mean"] == "nan"
    table = (tmp_path / "out" / "comparison.md").read_text()
    assert "| CPU time/run (s) |" in table and "| 6 |" in table
    # no run records it: no column
    bare = compare([root / "minimax"], out=tmp_path / "bare", plots=False)
    assert math.isnan(bare.stats[0].cpu_seconds)
    assert "CPU time" not in (tmp_path / "bare" / "comparison.md").read_text()
    assert "cpu_seconds_mean" not in (tmp_path / "bare" / "comparison.csv").read_text()


def test_unfinished_and_interrupted_runs_are_left_out_with_a_warning(sweep, tmp_path):
    write_run(sweep, "7", loss="minimax", status="interrupted", metrics={"modes_captured": 0})
    (sweep / "8").mkdir()
    (sweep / "8" / "metrics.csv").write_text("iteration,d_loss\n1,0.5\n")
    result = compare([sweep], out=tmp_path / "out", plots=False)
    assert {s.key: s.n for s in result.stats}[("minimax", "none")] == 5
    text = " ".join(result.warnings)
    assert "interrupted" in text and "no summary.json" in text


def test_clear_errors(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CompareError, match="no finished runs"):
        compare([empty])
    with pytest.raises(CompareError, match="does not exist"):
        compare([tmp_path / "missing"])
    write_run(tmp_path / "r", "0", loss="hinge", metrics={"modes_captured": 1})
    with pytest.raises(CompareError, match="no run has a value for --by key"):
        compare([tmp_path / "r"], by=["losss"])
    assert main([str(empty)]) == 2
    assert "no finished runs" in capsys.readouterr().err


def test_command_line(sweep, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main([str(sweep), "--by", "loss", "--out", str(out), "--no-plots"]) == 0
    printed = capsys.readouterr().out
    assert "| minimax | 5 | 40% (2/5) | 7 ± 1 |" in printed
    assert sorted(p.name for p in out.iterdir()) == [
        "budget.csv",
        "comparison.csv",
        "comparison.md",
        "findings.md",
        "significance.csv",
    ]
    # default output directory: PATH/comparison
    assert main([str(sweep), "--no-plots"]) == 0
    assert (sweep / "comparison" / "comparison.csv").is_file()
    assert 'ganbench-compare = "ganbench.compare:main"' in (ROOT / "pyproject.toml").read_text()


def test_metric_direction_fallback_for_old_records():
    assert metric_direction("reverse_kl") == "min" and metric_direction("fid") == "min"
    assert metric_direction("modes_captured") == "max" and metric_direction("high_quality") == "max"
    assert metric_direction("precision", minimize=["precision"]) == "min"


# ------------------------------------------------------------------ malformed input
GOOD = {"modes_captured": 8, "high_quality": 0.9, "reverse_kl": 0.1}


def _summary_text(**fields) -> str:
    base = {"status": "completed", "iterations": 100, "seed": 0, "metrics": dict(GOOD),
            "choices": {"dataset": "ring", "loss": "hinge", "regularizer": "none"}}  # fmt: skip
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not ...}, indent=2)


MALFORMED = [
    # (summary.json text, line reported, words in the message)
    ('{"status": "completed",\n "iterations": 5,\n "seed": 0\n', 4, "not valid JSON"),
    ('{"status": "completed"}', 1, "lacks the required field(s) iterations, seed, choices, metrics"),
    ("[1, 2]", 1, "is a JSON list, not an object"),
    (_summary_text(iterations="100"), 3, "iterations must be a non-negative integer, got '100'"),
    (_summary_text(seed=True), 4, "seed must be a non-negative integer"),
    (_summary_text(status="done"), 2, "has an unknown status 'done'"),
    (_summary_text(metrics={"modes_captured": "8 modes"}), 6, "metric modes_captured must be a number"),
    (_summary_text(choices=["hinge"]), 10, "choices must be an object"),
    (_summary_text(metrics=...), 1, "lacks the required field(s) metrics"),
    (_summary_text(directions={"modes_captured": "up"}), 16, "direction of modes_captured"),
    (_summary_text(objective={"loss": 3}), 16, "objective.loss must be a string"),
    (_summary_text(wall_seconds="slow"), 15, "wall_seconds must be a number"),
]


@pytest.mark.parametrize("text, line, words", MALFORMED)
def test_a_malformed_summary_is_reported_with_path_and_line_and_left_out(tmp_path, capsys, text, line, words):
    root = tmp_path / "runs"
    write_run(root, "good", loss="hinge", metrics=dict(GOOD))
    bad = root / "bad"
    bad.mkdir()
    (bad / "summary.json").write_text(text)
    result = compare([root], out=tmp_path / "out", plots=False)
    assert [s.key for s in result.stats] == [("hinge", "none")] and result.stats[0].n == 1
    problem = [w for w in result.warnings if "bad" in w]
    assert problem == [f"{bad.resolve() / 'summary.json'}:{line}: {words}" + problem[0].split(words, 1)[1]]
    assert problem[0].endswith("left out")
    # on the command line: a warning, exit 0, no traceback
    assert main([str(root), "--out", str(tmp_path / "cli"), "--no-plots"]) == 0
    err = capsys.readouterr().err
    assert f"summary.json:{line}: {words}" in err and "Traceback" not in err


def test_status_alone_is_not_a_run_and_only_malformed_runs_is_an_error(tmp_path, capsys):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "summary.json").write_text('{"status": "completed"}')
    with pytest.raises(CompareError, match=r"no finished runs .*1 summary.json file\(s\) malformed"):
        compare([tmp_path])
    assert main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "lacks the required field(s)" in err


def test_an_unreadable_config_yaml_is_reported_and_the_run_kept(tmp_path):
    run = write_run(tmp_path / "runs", "a", loss="hinge", metrics=dict(GOOD))
    (run / "config.yaml").write_text("loss: [unclosed\n")
    result = compare([tmp_path / "runs"], out=tmp_path / "out", plots=False)
    assert result.stats[0].n == 1
    assert any("config.yaml: not a readable config" in w for w in result.warnings)


def test_truncated_and_garbled_metrics_rows_are_left_out_never_misread(tmp_path):
    run = write_run(tmp_path / "runs", "a", loss="hinge", metrics=dict(GOOD))
    (run / "metrics.csv").write_text(
        "d_loss,iteration,modes_captured,step\n"
        "0.5,10,2,10\n"          # line 2: fine
        "0.5,20,3\n"             # line 3: 3 fields of 4
        "0.5,30,abc,30\n"        # line 4: not a number
        "0.5,40.5,4,40\n"        # line 5: not an iteration
        "0.5,50,5,50\n"          # line 6: fine
        "\n"                     # line 7: blank, skipped
        "0.5,60,1."              # line 8: cut off mid-number (was 1.134)
    )  # fmt: skip
    rows, problems = read_metrics_csv(run / "metrics.csv")
    assert [r["iteration"] for r in rows] == [10, 50]
    path = run / "metrics.csv"
    assert problems == [
        f"{path}:3: 3 fields, the header has 4",
        f"{path}:4: column modes_captured: 'abc' is not a number",
        f"{path}:5: column iteration: '40.5' is not an iteration number",
        f"{path}:8: the last row has no line end (cut off while being written)",
    ]
    result = compare([tmp_path / "runs"], out=tmp_path / "out")
    assert result.stats[0].runs[0].curve("modes_captured") == [(10, 2.0), (50, 5.0)]
    text = "\n".join(result.warnings)
    assert f"{path}:8: the last row has no line end" in text and "row left out" in text
    assert f"{path}:8" in (tmp_path / "out" / "comparison.md").read_text()
    # a complete last row (with its line end) is read
    (run / "metrics.csv").write_text("iteration,modes_captured\n10,1.134\n")
    assert read_metrics_csv(run / "metrics.csv") == ([{"iteration": 10.0, "modes_captured": 1.134}], [])


# ------------------------------------------------------------------ directions
def test_recorded_directions_win_over_names_and_flags(tmp_path):
    root = tmp_path / "runs"
    dirs = {"error_rate": "max", "kid": "min", "kid_std": None}
    for seed, (er, kid, std) in enumerate([(0.2, 0.5, 0.01), (0.6, 0.3, 0.03)]):
        write_run(root, f"r{seed}", loss="hinge", seed=seed, directions=dirs,
                  metrics={"error_rate": er, "kid": kid, "kid_std": std})  # fmt: skip
    result = compare([root], out=tmp_path / "out", minimize=["error_rate"])
    m = result.stats[0].metrics
    assert m["error_rate"].best == 0.6  # recorded "max" beats the name guess and the flag
    assert m["kid"].best == 0.3
    assert m["kid_std"].best is None  # no better side: no best, no budget curve
    assert result.directions == dirs
    assert any("--minimize ignored" in w and "error_rate" in w for w in result.warnings)
    assert not any("no direction in the run records" in w for w in result.warnings)
    assert {c.metric for c in result.budget} == {"error_rate", "kid"}
    assert "kid_std (mean ± std)" in result.table and "| 0.02 ± 0.0141 | 0.02 [0.01, 0.03] (50%) | — |" in result.table
    row = next(csv.DictReader(open(tmp_path / "out" / "comparison.csv")))
    assert row["kid_std_best"] == "" and float(row["kid_best"]) == 0.3
    assert not (tmp_path / "out" / "budget_kid_std.png").exists()


def test_old_records_fall_back_to_flags_then_names_with_a_warning(tmp_path):
    root = tmp_path / "runs"
    for seed, v in enumerate([0.2, 0.6]):
        write_run(root, f"r{seed}", loss="hinge", seed=seed, directions=None,
                  metrics={"precision": v, "fid": 10 * v, "num_modes": 8})  # fmt: skip
    result = compare([root], out=tmp_path / "out", plots=False, minimize=["precision"])
    m = result.stats[0].metrics
    assert m["precision"].best == 0.2 and m["fid"].best == 2.0
    assert "num_modes" not in m  # old records kept it among the metrics
    text = " ".join(result.warnings)
    assert "metric precision: no direction in the run records" in text and "from --minimize" in text
    assert "metric fid: no direction" in text and "guessed from its name" in text
    # --metrics: warnings only for the metrics shown
    narrow = compare([root], out=tmp_path / "narrow", plots=False, minimize=["precision"], metrics=["fid"])
    assert [w for w in narrow.warnings if "direction" in w] == [next(w for w in result.warnings if "metric fid" in w)]


def test_records_that_disagree_on_a_direction_give_no_best(tmp_path):
    root = tmp_path / "runs"
    write_run(root, "a", loss="hinge", directions={"score": "max"}, metrics={"score": 1.0})
    write_run(root, "b", loss="hinge", seed=1, directions={"score": "min"}, metrics={"score": 2.0})
    result = compare([root], out=tmp_path / "out", plots=False)
    assert result.stats[0].metrics["score"].best is None
    assert any("disagree on its direction" in w for w in result.warnings)


# ------------------------------------------------------------------ objective identity and mixed configs
def test_default_grouping_uses_the_recorded_objective(tmp_path):
    root = tmp_path / "runs"
    write_run(root, "ls", loss="least_squares", objective={"loss": "least_squares", "regularizer": "none"},
              metrics=dict(GOOD))  # fmt: skip
    write_run(root, "ls_a", loss="least_squares", seed=1, metrics=dict(GOOD),
              objective={"loss": "least_squares(a=-1, c=0)", "regularizer": "none"})  # fmt: skip
    write_run(root, "mine", loss="nonsaturating", seed=2, metrics=dict(GOOD),
              objective={"loss": "my_pkg.MyLoss", "regularizer": "none"})  # fmt: skip
    write_run(root, "ns", loss="nonsaturating", seed=3, metrics=dict(GOOD))  # an old record: choices
    result = compare([root], out=tmp_path / "out", plots=False)
    assert [s.key for s in result.stats] == [
        ("least_squares", "none"), ("least_squares(a=-1, c=0)", "none"), ("my_pkg.MyLoss", "none"),
        ("nonsaturating", "none")]  # fmt: skip
    assert all(s.n == 1 for s in result.stats)


def test_a_group_mixing_resolved_configs_gets_a_warning(tmp_path):
    root = tmp_path / "runs"
    write_run(root, "a", loss="least_squares", metrics=dict(GOOD), loss_config="{_target_: LS, a: 0.0, c: 1.0}")
    b_loss = "{_target_: LS, a: -1.0, c: 0.0}"
    write_run(root, "b", loss="least_squares", seed=1, metrics=dict(GOOD), loss_config=b_loss, lr=2e-4)
    write_run(root, "c", loss="hinge", metrics=dict(GOOD))
    write_run(root, "d", loss="hinge", seed=1, metrics=dict(GOOD))
    result = compare([root], out=tmp_path / "out", plots=False)
    text = "\n".join(result.warnings)
    assert "group least_squares / none mixes loss configs (a: -1, 0; c: 0, 1)" in text
    assert "group least_squares / none mixes optimizer configs (discriminator.lr: 0.0002, 0.001;" in text
    assert "--by …,optimizer.discriminator.lr" in text
    assert "hinge" not in text  # identical configs: no warning
    split = compare([root], by=["loss", "loss.a"], out=tmp_path / "o2", plots=False)
    assert not any("mixes loss configs" in w for w in split.warnings)


# ------------------------------------------------------------------ significance and budget curves
def _two_groups(root: Path, n_a: int = 5, n_b: int = 5) -> None:
    for i in range(n_a):
        metrics = {"modes_captured": 8, "high_quality": 0.90 + 0.01 * i, "reverse_kl": 0.01 * (i + 1)}
        write_run(root, f"ns{i}", loss="nonsaturating", seed=i, metrics=metrics)
    for i in range(n_b):
        metrics = {"modes_captured": 2 + i % 2, "high_quality": 0.10 + 0.01 * i, "reverse_kl": 1 + 0.1 * i}
        write_run(root, f"w{i}", loss="wasserstein", regularizer="gp", seed=i, metrics=metrics)


def test_significance_column_and_csv_match_scipy_and_holm(tmp_path):
    from scipy.stats import mannwhitneyu

    _two_groups(tmp_path / "runs")
    write_run(
        tmp_path / "runs", "h0", loss="hinge", metrics={"modes_captured": 8, "high_quality": 0.5, "reverse_kl": 0.5}
    )
    result = compare([tmp_path / "runs"], out=tmp_path / "out", plots=False)
    rows = list(csv.DictReader(open(tmp_path / "out" / "significance.csv")))
    hq = [r for r in rows if r["metric"] == "high_quality"]
    assert [(r["group_a"], r["group_b"]) for r in hq] == [
        ("hinge / none", "nonsaturating / none"), ("hinge / none", "wasserstein / gp"),
        ("nonsaturating / none", "wasserstein / gp")]  # fmt: skip
    values = {"hinge / none": [0.5], "nonsaturating / none": [0.90 + 0.01 * i for i in range(5)],
              "wasserstein / gp": [0.10 + 0.01 * i for i in range(5)]}  # fmt: skip
    ps = [mannwhitneyu(values[r["group_a"]], values[r["group_b"]], alternative="two-sided").pvalue for r in hq]
    assert [float(r["p"]) for r in hq] == pytest.approx(ps)
    assert [float(r["p_holm"]) for r in hq] == pytest.approx(holm(ps))
    # 5 against 5, fully separated: exact p = 2/252, × 3 pairs (Holm) = 0.024 < 0.05
    assert float(hq[2]["p_holm"]) == pytest.approx(3 * 2 / 252) and hq[2]["better"] == "nonsaturating / none"
    # reverse KL is lower-is-better: nonsaturating is better there too
    kl = next(r for r in rows if r["metric"] == "reverse_kl" and r["group_b"] == "wasserstein / gp"
              and r["group_a"] == "nonsaturating / none")  # fmt: skip
    assert kl["better"] == "nonsaturating / none"
    md = (tmp_path / "out" / "comparison.md").read_text()
    assert "| ring | nonsaturating / none | wasserstein / gp | wasserstein / gp | wasserstein / gp |" in md
    assert "| ring | wasserstein / gp | — | — | — |" in md
    # the one-run hinge group gets the caveat. 1 against 5: its one value takes one of the 6 places;
    # for modes_captured, 8 against wasserstein's 2, 2, 2, 3, 3, only the top place is that far from
    # the middle (the bottom one is shared by three tied runs): p = 1/6, the caveat's bound
    assert result.caveats == [
        "ring: group hinge / none has 1 completed run(s), fewer than 5: the exact test cannot give it a p below "
        "0.17 against any other group, so 'not significant' says little"]  # fmt: skip
    modes = [r for r in rows if r["metric"] == "modes_captured" and r["group_a"] == "hinge / none"]
    assert float(modes[1]["p"]) == pytest.approx(1 / 6)
    assert min(float(r["p"]) for r in rows if "hinge / none" in (r["group_a"], r["group_b"])) >= 1 / 6 - 1e-12


def test_budget_curves_per_dataset_with_failures_ranked_worst(tmp_path):
    root = tmp_path / "runs"
    pools = {"ring": [6, 8, None, 7], "grid": [20, 24, 22]}
    for dataset, pool in pools.items():
        for i, v in enumerate(pool):
            write_run(root, f"{dataset}{i}", loss="hinge", dataset=dataset, seed=i,
                      status="completed" if v is not None else "diverged",
                      metrics={"modes_captured": v} if v is not None else {"modes_captured": 99})  # fmt: skip
    compare([root], by=["loss"], out=tmp_path / "out")
    rows = list(csv.DictReader(open(tmp_path / "out" / "budget.csv")))
    for dataset, pool in pools.items():
        mine = [r for r in rows if r["dataset"] == dataset and r["metric"] == "modes_captured"]
        expected = best_of_k(pool, "max")  # the diverged run's 99 is not used: it is a trial without a value
        assert [int(r["k"]) for r in mine] == list(range(1, len(pool) + 1))
        assert [float(r["expected_best"]) for r in mine] == pytest.approx([p.mean for p in expected])
        assert [float(r["p_all_failed"]) for r in mine] == pytest.approx([p.p_all_failed for p in expected])
    # ring, by hand: k = 1 → mean of 6, 8, 7 given a finished draw = 7; P(the diverged one) = 1/4
    ring1 = next(r for r in rows if r["dataset"] == "ring" and r["k"] == "1")
    assert float(ring1["expected_best"]) == pytest.approx(7.0) and float(ring1["p_all_failed"]) == 0.25
    ring4 = next(r for r in rows if r["dataset"] == "ring" and r["k"] == "4")
    assert float(ring4["expected_best"]) == 8.0
    # one panel per dataset: a two-panel figure is twice as wide as a one-panel one
    two = mpimg.imread(tmp_path / "out" / "budget_modes_captured.png")
    one = compare([root / "ring0", root / "ring1"], by=["loss"], out=tmp_path / "one")
    single = mpimg.imread(tmp_path / "one" / "budget_modes_captured.png")
    assert two.shape[1] == pytest.approx(2 * single.shape[1], rel=0.02)
    assert "![budget_modes_captured](budget_modes_captured.png)" in (tmp_path / "out" / "comparison.md").read_text()
    assert one.budget[0].dataset == "ring"


def test_iteration_curves_have_one_panel_per_dataset(tmp_path):
    root = tmp_path / "runs"
    write_run(root, "r", loss="hinge", dataset="ring", metrics=dict(GOOD), curve=[(50, 4), (100, 8)])
    write_run(root, "g", loss="hinge", dataset="grid", metrics=dict(GOOD), curve=[(50, 10), (100, 20)])
    compare([root], by=["loss"], out=tmp_path / "two")
    compare([root / "r"], by=["loss"], out=tmp_path / "one")
    two, one = (mpimg.imread(tmp_path / d / "modes_captured.png") for d in ("two", "one"))
    assert two.shape[1] == pytest.approx(2 * one.shape[1], rel=0.02)


# ------------------------------------------------------------------ exit codes
def test_exit_codes_are_documented(capsys):
    with pytest.raises(SystemExit) as exc:
        parse_args(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "exit codes:" in text and "0  the comparison was written" in text and "2  a user error" in text
    readme = (ROOT / "README.md").read_text()
    assert "Exit codes: 0 written, 2 user error" in readme.split("## Compare losses", 1)[1]


def test_an_unwritable_output_directory_is_a_user_error(tmp_path, capsys):
    write_run(tmp_path / "runs", "a", loss="hinge", metrics=dict(GOOD))
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main([str(tmp_path / "runs"), "--out", str(blocker / "sub"), "--no-plots"]) == 2
    assert "cannot write the comparison into" in capsys.readouterr().err


# ------------------------------------------------------------------ large values, refused jobs, file paths
def test_metrics_near_the_largest_float_give_exact_statistics(tmp_path):
    from fractions import Fraction

    for seed, value in enumerate([1e308, 1e308, 1.5e308, 1.7e308]):
        write_run(tmp_path / "big", str(seed), loss="hinge" if seed < 2 else "minimax", seed=seed,
                  metrics={"modes_captured": 8, "high_quality": 0.5, "reverse_kl": value})  # fmt: skip
    result = compare([tmp_path / "big"], by=["loss"], out=tmp_path / "out")
    stats = {s.key[0]: s.metrics["reverse_kl"] for s in result.stats}
    assert (stats["hinge"].mean, stats["hinge"].std) == (1e308, 0.0)
    assert (stats["hinge"].median, stats["hinge"].median_low, stats["hinge"].median_high) == (1e308, 1e308, 1e308)
    a, b = Fraction(1.5e308), Fraction(1.7e308)  # exact: mean (a + b) / 2, sample std |a - b| / sqrt(2)
    assert stats["minimax"].mean == float((a + b) / 2)
    assert stats["minimax"].std == pytest.approx(float(abs(a - b)) / math.sqrt(2), rel=1e-15)
    assert stats["minimax"].median == float((a + b) / 2)  # no overflow in a + b
    assert (stats["minimax"].median_low, stats["minimax"].median_high) == (1.5e308, 1.7e308)
    assert "| hinge | 2 | 0% (0/2) | 8 ± 0 |" in result.table and "1e+308 ± 0" in result.table
    # no axis spans such values: that plot is left out with a warning, the others are drawn
    assert "metric reverse_kl: values up to 1.7e+308 are beyond what a plot axis can span: no plot" in result.warnings
    assert {p.name for p in result.files} >= {"budget_modes_captured.png", "budget_high_quality.png"}
    assert not (tmp_path / "out" / "budget_reverse_kl.png").exists()


def test_a_refused_job_is_no_other_iteration_budget(tmp_path):
    """A job refused for a user error has no config.yaml and 0 iterations; its record keeps the
    config it was given (ganbench.train._record_refusal), which plans the same budget."""
    for seed in (0, 1):
        write_run(tmp_path / "s", str(seed), loss="hinge", seed=seed, iterations=400, metrics=dict(GOOD))
    refused = write_run(tmp_path / "s", "2", loss="hinge", seed=2, status="failed", iterations=0)
    (refused / "config.yaml").unlink()
    (refused / "metrics.csv").unlink()
    record = json.loads((refused / "summary.json").read_text())
    record["config"] = {"seed": 2, "iterations": 400, "n_critic": 0, "eval": {"num_samples": 2500}}
    (refused / "summary.json").write_text(json.dumps(record))
    result = compare([tmp_path / "s"], by=["loss"], out=tmp_path / "out", plots=False)
    assert not [w for w in result.warnings if "mixes" in w], result.warnings
    assert result.stats[0].failed == 1
    # a budget that really differs is still told
    record["config"]["iterations"] = 300
    (refused / "summary.json").write_text(json.dumps(record))
    result = compare([tmp_path / "s"], by=["loss"], out=tmp_path / "out", plots=False)
    assert "group hinge mixes iteration budgets: 300, 400: the comparison is unfair" in result.warnings


def test_a_refused_job_of_a_real_sweep_is_a_failure_of_the_same_budget(tmp_path):
    import os
    import subprocess
    import sys

    overrides = ["trainer.enable_progress_bar=false", "iterations=20", "eval.every=10", "checkpoint.every=null"]
    done = subprocess.run(
        [sys.executable, "-m", "ganbench.train", "-m", *overrides, "n_critic=1,0", f"hydra.sweep.dir={tmp_path / 's'}"],
        env={**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"},
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert not (tmp_path / "s" / "1_nonsaturating_none_s0" / "config.yaml").exists()  # refused: n_critic=0
    result = compare([tmp_path / "s"], out=tmp_path / "out", plots=False)
    assert [(s.n, s.completed, s.failed) for s in result.stats] == [(2, 1, 1)]
    assert not [w for w in result.warnings if "mixes" in w], result.warnings


def test_a_file_is_refused_not_its_directory_compared(tmp_path, capsys):
    write_run(tmp_path / "runs", "a", loss="hinge", metrics=dict(GOOD))
    summary = tmp_path / "runs" / "a" / "summary.json"
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert main([str(summary)]) == 2
    err = capsys.readouterr().err
    assert err == f"ganbench-compare: error: {summary} is a file, not a directory: give a run directory or a " \
                  "multirun directory\n"  # fmt: skip
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing written


def test_python_dash_m_runs_the_command_line(tmp_path):
    import subprocess
    import sys

    write_run(tmp_path / "runs", "a", loss="hinge", metrics=dict(GOOD))
    done = subprocess.run([sys.executable, "-m", "ganbench.compare", str(tmp_path / "runs"), "--no-plots"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "| hinge | none | 1 | 0% (0/1) | 8 ± n/a |" in done.stdout
    missing = subprocess.run([sys.executable, "-m", "ganbench.compare", str(tmp_path / "nothing")],
                             capture_output=True, text=True, timeout=120)  # fmt: skip
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "does not exist" in missing.stderr


# ------------------------------------------------------------------ the README's example, run again
TIME_HEADERS = ("wall time/run (s)", "CPU time/run (s)")


def _table_cells(lines: list[str]) -> list[list[tuple[str, str]]]:
    """The header and rows of a Markdown table as (header, cell) pairs, without the columns that
    measure time (several columns share a header: "median [interval] (its coverage)")."""
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines if line.startswith("|")]
    header = rows[0]
    body = [[(h, c) for h, c in zip(header, row) if h not in TIME_HEADERS] for row in rows[2:]]
    return [list(zip(header, header)), *body]


@pytest.mark.slow
def test_the_readme_s_comparison_is_what_its_commands_print_now(tmp_path):
    """The README's "real output of the current code": its two commands, run as written (one
    thread per run, as it says), print the same table, every cell but the times, and the same files."""
    import shlex
    import subprocess
    import sys

    readme = (ROOT / "README.md").read_text()
    start = readme.index("$ ganbench-train -m loss=minimax,nonsaturating")
    block = readme[start : readme.index("```", start)].splitlines()
    commands = [line[2:] for line in block if line.startswith("$ ")]
    shown = [line for line in block if not line.startswith("$ ")]
    assert [shlex.split(c)[0] for c in commands] == ["ganbench-train", "ganbench-compare"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg", "WANDB_MODE": "disabled"}
    printed = ""
    for command in commands:
        program, *args = shlex.split(command)
        module = {"ganbench-train": "ganbench.train", "ganbench-compare": "ganbench.compare"}[program]
        done = subprocess.run([sys.executable, "-m", module, *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=1200)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        printed = done.stdout
    now = printed.splitlines()
    assert _table_cells(now) == _table_cells(shown)
    assert [line for line in now if line.startswith("wrote ")] == [line for line in shown if line.startswith("wrote ")]


def _with_code(run: Path, code: dict | None) -> None:
    summary = json.loads((run / "summary.json").read_text())
    if code is not None:
        summary["code"] = code
    (run / "summary.json").write_text(json.dumps(summary))


def test_runs_that_ran_other_code_are_named_in_a_warning(tmp_path, capsys):
    """The same code everywhere: no warning. Two commits, runs without a record of theirs, a
    library's other version and code that differs from its commit: each said, with its runs."""
    new = {"ganbench": "0.1.0", "commit": "b" * 40, "modified": False, "python": "3.11.7", "torch": "2.14.1"}
    metrics = {"modes_captured": 8, "high_quality": 0.9, "reverse_kl": 0.1}
    for i in range(4):
        _with_code(write_run(tmp_path / "same", f"r{i}", loss="hinge", seed=i, metrics=metrics), new)
    assert compare([tmp_path / "same"], by=["loss"], plots=False).warnings == []
    codes = [None, None, new, new, new, {**new, "commit": "c" * 40, "modified": True}]
    for i, code in enumerate(codes):
        _with_code(write_run(tmp_path / "mixed", f"r{i}", loss="hinge", seed=i, metrics=metrics), code)
    main([str(tmp_path / "mixed"), "--by", "loss", "--no-plots"])
    stderr = capsys.readouterr().err
    expected = (
        "the 6 runs ran 3 versions of the code: commit bbbbbbb (3 runs); not recorded (runs from before ganbench "
        "recorded its code) (2 runs); commit ccccccc (modified) (1 run) (each run's summary.json, code)"
    )
    assert f"ganbench-compare: warning: {expected}" in stderr
    assert "1 of 6 runs ran code that differs from its commit (code.modified)" in stderr
    report = (tmp_path / "mixed" / "comparison" / "comparison.md").read_text()
    assert f"- {expected}" in report
    # runs that differ only in a library's version are told apart by it
    for i, torch_version in enumerate(["2.14.1", "2.14.1", "2.13.0"]):
        _with_code(write_run(tmp_path / "libs", f"r{i}", loss="hinge", seed=i, metrics=metrics),
                   {**new, "torch": torch_version})  # fmt: skip
    (warning,) = compare([tmp_path / "libs"], by=["loss"], plots=False).warnings
    assert warning.startswith("the 3 runs ran 2 versions of the code: torch 2.14.1 (2 runs); torch 2.13.0 (1 run)")
    # the same code, but some runs from before ganbench recorded it: named by the commit
    for i, code in enumerate([None, new, new]):
        _with_code(write_run(tmp_path / "older", f"r{i}", loss="hinge", seed=i, metrics=metrics), code)
    (warning,) = compare([tmp_path / "older"], by=["loss"], plots=False).warnings
    assert warning.startswith("the 3 runs ran 2 versions of the code: commit bbbbbbb (2 runs); not recorded")
