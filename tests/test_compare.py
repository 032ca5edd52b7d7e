"""ganbench-compare on run directories written by the test, with numbers checked by hand."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import matplotlib.image as mpimg
import pytest

from ganbench.compare import CompareError, band, compare, main, metric_direction

ROOT = Path(__file__).resolve().parents[1]


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
) -> Path:
    """A run directory as ganbench-train leaves it: summary.json, config.yaml, metrics.csv."""
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
    if status == "failed":
        summary["error"] = "ValueError: boom"
    (run / "summary.json").write_text(json.dumps(summary))
    (run / "config.yaml").write_text(
        f"seed: {seed}\niterations: {iterations}\nn_critic: {n_critic}\neval:\n  num_samples: 2500\n"
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
    ("minimax", 0, "completed", {"modes_captured": 6, "high_quality": 0.9, "reverse_kl": 0.5, "num_modes": 8},
     [(50, 2), (100, 6)]),
    ("minimax", 1, "completed", {"modes_captured": 7, "high_quality": 0.8, "reverse_kl": 0.3, "num_modes": 8},
     [(50, 4), (100, 7)]),
    ("minimax", 2, "completed", {"modes_captured": 8, "high_quality": 1.0, "reverse_kl": 0.1, "num_modes": 8},
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
    assert "num_modes" not in mm.metrics  # a property of the benchmark, not a result
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

    md = (out / "comparison.md").read_text()
    assert "| minimax | none | 5 | 40% (2/5) | 7 ± 1 | 8 | 0.9 ± 0.1 | 1 | 0.3 ± 0.2 | 0.1 |" in md
    assert "| nonsaturating | none | 2 | 0% (0/2) | 8 ± 0 | 8 |" in md
    # one plot per metric that metrics.csv has curves for (these files only log modes_captured)
    assert "![modes_captured](modes_captured.png)" in md
    assert sorted(p.name for p in out.glob("*.png")) == ["modes_captured.png"]
    image = mpimg.imread(out / "modes_captured.png")
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def test_band_is_mean_and_std_over_seeds_at_each_iteration():
    xs, means, stds = band([[(50, 2), (100, 6)], [(50, 4), (100, 7)], [(50, 6), (100, 8)], [(50, 1)]])
    assert xs == [50, 100]
    # at 50: 2, 4, 6, 1 → mean 13/4; at 100: 6, 7, 8 → mean 7, std 1
    assert means == pytest.approx([13 / 4, 7.0])
    assert stds[0] == pytest.approx(math.sqrt(((2 - 3.25) ** 2 + 0.75**2 + 2.75**2 + 2.25**2) / 3))
    assert stds[1] == pytest.approx(1.0)
    assert band([[(10, 5.0)]]) == ([10], [5.0], [0.0])


def test_group_by_other_keys_and_warnings_for_unfair_groups(tmp_path):
    root = tmp_path / "runs"
    write_run(root, "a", loss="hinge", dataset="ring", iterations=100, metrics={"modes_captured": 8})
    write_run(root, "b", loss="hinge", dataset="grid", iterations=200, metrics={"modes_captured": 20}, n_critic=5)
    result = compare([root], out=tmp_path / "o1", plots=False)
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
    assert sorted(p.name for p in out.iterdir()) == ["comparison.csv", "comparison.md"]
    # default output directory: PATH/comparison
    assert main([str(sweep), "--no-plots"]) == 0
    assert (sweep / "comparison" / "comparison.csv").is_file()
    assert 'ganbench-compare = "ganbench.compare:main"' in (ROOT / "pyproject.toml").read_text()


def test_metric_directions():
    assert metric_direction("reverse_kl") == "min" and metric_direction("fid") == "min"
    assert metric_direction("modes_captured") == "max" and metric_direction("high_quality") == "max"
    assert metric_direction("precision", minimize=["precision"]) == "min"
