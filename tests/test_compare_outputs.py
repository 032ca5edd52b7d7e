"""What ganbench-compare's tables and figures show: the searched hyperparameters, what the time
column measures, which side of each axis is better, and the samples of each group's median run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import ganbench.compare.plots as plots
from ganbench.compare import compare, main
from ganbench.compare.samples import median_run
from test_compare import write_run

TRIAL = {"number": 3, "params": {"optimizer.generator.lr": "0.001", "n_critic": "5", "+optimizer/scheduler": "linear"}}


def write_seed_runs(root: Path, loss: str, kl: list[float], trial: dict | None = TRIAL, lr: float = 4.4e-4) -> Path:
    """The seed stage of a study: <root>/ring/<loss>/seeds/top1/s<seed>, trial.json beside them."""
    top = root / "ring" / loss / "seeds" / "top1"
    for seed, value in zip(range(100, 100 + len(kl)), kl):
        write_run(top, f"s{seed}", loss=loss, seed=seed, lr=lr, n_critic=5,
                  metrics={"modes_captured": 8, "high_quality": 0.9, "reverse_kl": value})  # fmt: skip
    if trial is not None:
        (top / "trial.json").write_text(json.dumps({"trial_dir": "search/from0000/3", "trial": trial}))
    return top


def test_the_tuned_table_shows_the_winning_hyperparameters_as_the_runs_ran(tmp_path):
    write_seed_runs(tmp_path / "study", "minimax", [0.1, 0.2, 0.3])
    # a search: two trials of one loss, each record names its own trial
    for number, lr in ((0, 1e-3), (1, 2e-4)):
        run = write_run(tmp_path / "study" / "ring" / "hinge" / "search", str(number), loss="hinge", lr=lr,
                        metrics={"modes_captured": 8, "high_quality": 0.5, "reverse_kl": 0.2})  # fmt: skip
        record = json.loads((run / "summary.json").read_text())
        record["trial"] = {"number": number, "params": {"optimizer.generator.lr": str(lr)}}
        (run / "summary.json").write_text(json.dumps(record))
    result = compare([tmp_path / "study"], by=["loss"], out=tmp_path / "out", plots=False)
    header = result.table.splitlines()[0]
    assert header.endswith("| wall time/run (s) | hyperparameters (searched) |")
    # lr and n_critic as config.yaml holds them (4.4e-4, not the 0.001 the trial record says: the
    # config is what ran), the scheduler group from the trial (config.yaml has no group choices)
    setting = "optimizer.generator.lr=0.00044, n_critic=5, +optimizer/scheduler=linear"
    assert "| minimax | 3 | 0% (0/3) |" in result.table and result.table.splitlines()[3].endswith(f"| {setting} |")
    assert result.table.splitlines()[2].endswith("| 2 settings (a search) |")
    rows = {r["loss"]: r for r in csv.DictReader(open(tmp_path / "out" / "comparison.csv"))}
    assert rows["minimax"]["hyperparameters"] == setting and rows["hinge"]["hyperparameters"] == "2 settings (a search)"
    # seconds of wall-clock time (summary.json's wall_seconds: 10 + seed in write_run)
    assert float(rows["minimax"]["wall_seconds_mean"]) == pytest.approx(10 + 101)
    assert (
        "wall time/run (s): the mean wall-clock seconds of a completed run"
        in (tmp_path / "out" / "comparison.md").read_text()
    )


def test_without_a_search_there_is_no_hyperparameter_column(tmp_path):
    write_seed_runs(tmp_path / "s", "minimax", [0.1, 0.2], trial=None)
    result = compare([tmp_path / "s"], by=["loss"], out=tmp_path / "out", plots=False)
    assert result.table.splitlines()[0].endswith("| wall time/run (s) |")


def test_every_axis_says_which_side_is_better(tmp_path, monkeypatch):
    for seed in range(2):
        write_run(tmp_path / "runs", f"r{seed}", loss="hinge", seed=seed, curve=[(50, 4), (100, 8)],
                  metrics={"modes_captured": 8, "high_quality": 0.5, "reverse_kl": 0.1, "kid_std": 0.01},
                  directions={"modes_captured": "max", "high_quality": "max", "reverse_kl": "min",
                              "kid_std": None})  # fmt: skip
    labels = {}
    finish = plots._finish

    def record(plt, fig, axes, used, title, path):
        labels[Path(path).name] = [ax.get_ylabel() for ax in axes[:used]]
        return finish(plt, fig, axes, used, title, path)

    monkeypatch.setattr(plots, "_finish", record)
    compare([tmp_path / "runs"], by=["loss"], out=tmp_path / "out")
    assert labels["modes_captured.png"] == ["modes_captured (higher is better)"]
    assert labels["budget_reverse_kl.png"] == ["expected best of k: reverse_kl (lower is better)"]
    assert labels["budget_high_quality.png"] == ["expected best of k: high_quality (higher is better)"]
    assert "budget_kid_std.png" not in labels  # no direction, no budget curve


# ------------------------------------------------------------------ samples side by side
def _runs(root: Path, values: list[float], loss: str = "hinge") -> list:
    for seed, v in enumerate(values):
        write_run(root, f"{loss}{seed}", loss=loss, seed=seed,
                  metrics={"modes_captured": 8, "high_quality": 0.5, "reverse_kl": v})  # fmt: skip
    return compare([root], by=["loss"], out=root.parent / "o", plots=False).stats[0].runs


@pytest.mark.parametrize(
    "values, seed",
    [
        ([0.5, 0.1, 0.3], 2),  # sorted best (lowest KL) to worst: 0.1 (s1), 0.3 (s2), 0.5 (s0): the middle one
        ([0.4, 0.1, 0.3, 0.2], 3),  # even: 0.1, 0.2 (s3), 0.3, 0.4: the better of the two middle runs
        ([0.2, 0.2, 0.2], 1),  # all equal: by seed, s0, s1, s2 → s1
    ],
)
def test_the_median_run_by_the_optimized_metric(tmp_path, values, seed):
    runs = _runs(tmp_path / "r", values)
    # no optimized_metric in config.yaml: the evaluator's first declared metric, modes_captured, ties
    # everywhere (8): the seed decides
    chosen, metric, _, n = median_run(runs, {"modes_captured": "max", "reverse_kl": "min"})
    assert (metric, n, chosen.summary["seed"]) == ("modes_captured", len(values), (len(values) - 1) // 2)
    runs = _runs(tmp_path / "again", values)
    for run in runs:
        with open(run.path / "config.yaml", "a") as f:
            f.write("optimized_metric: reverse_kl\n")
    runs = compare([tmp_path / "again"], by=["loss"], out=tmp_path / "o2", plots=False).stats[0].runs
    chosen, metric, value, _ = median_run(runs, {"modes_captured": "max", "reverse_kl": "min"})
    assert (metric, chosen.summary["seed"], value) == ("reverse_kl", seed, values[seed])


def _solid_png(path: Path, rgb: tuple[int, int, int]) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (60, 60), rgb).save(path)


def _checkpoint(run: Path, point: tuple[float, float]) -> None:
    """A generator whose every sample is ``point`` (last layer: weights 0, bias ``point``)."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    with open(run / "config.yaml", "a") as f:
        f.write(
            "model:\n  generator: {_target_: ganbench.models.MLPGenerator, data_dim: 2, latent_dim: 2, hidden_dim: 8, "
            "num_layers: 2}\ndataset:\n  _target_: ganbench.data.RingDataModule\n  iterations: ${iterations}\n"
        )
    generator = instantiate(OmegaConf.load(run / "config.yaml").model.generator)
    last = [m for m in generator.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor(point))
    state = {f"generator.{k}": v for k, v in generator.state_dict().items()}
    (run / "checkpoints").mkdir()
    checkpoint = {"state_dict": state, "global_step": 200, "epoch": 0, "optimizer_states": [],
                  "ganbench": {"iteration": 100, "rng": {}}}  # fmt: skip
    torch.save(checkpoint, run / "checkpoints" / "last.ckpt")


def test_samples_side_by_side_from_plots_checkpoints_or_a_note(tmp_path):
    root = tmp_path / "runs"
    for loss in ("a_plot", "b_ckpt", "c_none"):
        for seed, kl in enumerate([0.3, 0.1, 0.2]):  # the median run is seed 2 (0.2)
            write_run(root, f"{loss}{seed}", loss=loss, seed=seed,
                      metrics={"modes_captured": 8, "high_quality": 0.5, "reverse_kl": kl})  # fmt: skip
            with open(root / f"{loss}{seed}" / "config.yaml", "a") as f:
                f.write("optimized_metric: reverse_kl\n")
    # the median run's latest plot is red; an earlier plot, and another run's plot, are green
    _solid_png(root / "a_plot2" / "plots" / "samples_000050.png", (0, 255, 0))
    _solid_png(root / "a_plot2" / "plots" / "samples_000100.png", (255, 0, 0))
    _solid_png(root / "a_plot0" / "plots" / "samples_000100.png", (0, 255, 0))
    _checkpoint(root / "b_ckpt2", (0.25, -0.5))
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    result = compare([root], by=["loss"], out=tmp_path / "out")
    assert [p.name for p in result.samples] == ["samples_ring.png"]
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before  # nothing written into the runs

    from ganbench.compare.samples import sample_panels

    shown = sample_panels(result.stats, result.by, result.directions, tmp_path)["ring"]
    assert [p.group for p in shown] == ["a_plot", "b_ckpt", "c_none"]  # the table's order
    assert [p.run.summary["seed"] for p in shown] == [2, 2, 2]
    assert [p.source for p in shown] == ["plot", "checkpoint", "none"], [p.note for p in shown]
    red = shown[0].image[..., :3]
    assert np.allclose(red[30, 30], [1.0, 0.0, 0.0])  # the latest plot, samples_000100
    # drawn again from the checkpoint: every point is the generator's bias
    assert shown[1].points.shape == (2500, 2) and np.allclose(shown[1].points, [0.25, -0.5], atol=1e-6)
    assert result.sample_notes == [
        "ring: group c_none has no samples in the figure: the run kept no plots/samples_*.png and no "
        "checkpoints/last.ckpt"]  # fmt: skip
    md = (tmp_path / "out" / "comparison.md").read_text()
    assert "![samples_ring](samples_ring.png)" in md and "- ring: group c_none has no samples" in md
    figure = plots_image(tmp_path / "out" / "samples_ring.png")
    # the figure holds the red plot (pure red pixels), not the green ones
    assert (np.all(figure[..., :3] == [1.0, 0.0, 0.0], axis=-1)).sum() > 100
    assert not (np.all(figure[..., :3] == [0.0, 1.0, 0.0], axis=-1)).any()


def plots_image(path: Path) -> np.ndarray:
    import matplotlib.image as mpimg

    return mpimg.imread(path)


def test_runs_without_any_samples_leave_the_sample_figure_alone(tmp_path):
    """Committed run records keep no plots and no checkpoints: comparing them writes the tables, no
    sample figure of empty panels, and leaves the figure made from the full runs as it was."""
    root = tmp_path / "records"
    for loss in ("a", "b"):
        for seed in range(2):
            write_run(root, f"{loss}{seed}", loss=loss, seed=seed,
                      metrics={"modes_captured": 8, "high_quality": 0.5, "reverse_kl": 0.1 * (seed + 1)})  # fmt: skip
    out = tmp_path / "out"
    _solid_png(out / "samples_ring.png", (0, 0, 255))
    before = (out / "samples_ring.png").read_bytes()
    result = compare([root], by=["loss"], out=out)
    assert result.samples == [] and (out / "samples_ring.png").read_bytes() == before
    note = ("ring: samples_ring.png not written: no group's median run kept plots/samples_*.png or "
            "checkpoints/last.ckpt")  # fmt: skip
    assert result.sample_notes == [note]
    md = (out / "comparison.md").read_text()
    assert f"- {note}" in md and "![samples_ring]" not in md


def test_seed_runs_of_one_trial_have_no_budget_curve_and_a_search_has_one(tmp_path):
    write_seed_runs(tmp_path / "study", "minimax", [0.1, 0.2, 0.3])  # one setting on three seeds
    for number, (lr, kl) in enumerate(((1e-3, 0.4), (2e-4, 0.2), (5e-4, 0.3))):  # a search: three settings
        run = write_run(tmp_path / "study" / "ring" / "hinge" / "search", str(number), loss="hinge", lr=lr,
                        metrics={"modes_captured": 8, "high_quality": 0.5, "reverse_kl": kl})  # fmt: skip
        record = json.loads((run / "summary.json").read_text())
        record["trial"] = {"number": number, "params": {"optimizer.generator.lr": str(lr)}}
        (run / "summary.json").write_text(json.dumps(record))
    out = tmp_path / "out"
    result = compare([tmp_path / "study"], by=["loss"], out=out)
    assert {c.group for c in result.budget} == {"hinge"}
    rows = [r for r in csv.DictReader(open(out / "budget.csv")) if r["metric"] == "reverse_kl"]
    # by hand, lower is better over {0.4, 0.2, 0.3}: k=1 the mean 0.3; k=2 the three pairs' minima 0.2, 0.3, 0.2
    assert [float(r["expected_best"]) for r in rows] == pytest.approx([0.3, 0.7 / 3, 0.2])
    assert {r["group"] for r in csv.DictReader(open(out / "budget.csv"))} == {"hinge"}
    # the tuned table alone: no budget file, no budget figure, and the report says why
    tuned = compare([tmp_path / "study" / "ring" / "minimax"], by=["loss"], out=tmp_path / "tuned")
    assert tuned.budget == [] and not list((tmp_path / "tuned").glob("budget*"))
    assert "such a group has no budget curve" in (tmp_path / "tuned" / "comparison.md").read_text()


def write_search(root: Path, loss: str, kls: list[float]) -> Path:
    """A search stage: <root>/ring/<loss>/search/<n>, one run per trial, each its own setting."""
    for number, kl in enumerate(kls):
        lr = 1e-4 * (number + 1)
        run = write_run(root / "ring" / loss / "search", str(number), loss=loss, lr=lr,
                        metrics={"modes_captured": 8, "high_quality": 0.5, "reverse_kl": kl})  # fmt: skip
        record = json.loads((run / "summary.json").read_text())
        record["trial"] = {"number": number, "params": {"optimizer.generator.lr": str(lr)}}
        (run / "summary.json").write_text(json.dumps(record))
    return root / "ring" / loss / "search"


def test_search_gives_the_tuned_comparison_the_budget_curves_of_its_search(tmp_path, capsys):
    seeds = write_seed_runs(tmp_path / "study", "minimax", [0.1, 0.2, 0.3])
    search = write_search(tmp_path / "study", "minimax", [0.4, 0.2, 0.3])
    out = tmp_path / "out"
    assert main([str(seeds), "--by", "loss", "--out", str(out), "--search", str(search)]) == 0
    capsys.readouterr()
    # the table and tests: the three seed runs; the budget curve: the three trials, by hand over
    # {0.4, 0.2, 0.3} (lower is better): k=1 the mean 0.3; k=2 the pairs' minima 0.2, 0.3, 0.2; k=3 0.2
    md = (out / "comparison.md").read_text()
    assert "| minimax | 3 |" in md
    rows = [r for r in csv.DictReader(open(out / "budget.csv")) if r["metric"] == "reverse_kl"]
    assert [(r["group"], int(r["k"])) for r in rows] == [("minimax", 1), ("minimax", 2), ("minimax", 3)]
    assert [float(r["expected_best"]) for r in rows] == pytest.approx([0.3, 0.7 / 3, 0.2])
    assert (out / "budget_reverse_kl.png").is_file()
    assert f"Budget curves of the search runs under {search} (--search)" in md
    assert "the budget curves below are those of the search, --search" in md
    # without --search, the same comparison has none
    assert compare([seeds], by=["loss"], out=tmp_path / "plain").budget == []


@pytest.mark.parametrize("which", ["seeds", "missing"])
def test_search_without_a_search_is_one_line_and_writes_nothing(tmp_path, capsys, which):
    seeds = write_seed_runs(tmp_path / "study", "minimax", [0.1, 0.2, 0.3])
    out = tmp_path / "out"
    given = seeds if which == "seeds" else tmp_path / "nowhere"
    assert main([str(seeds), "--out", str(out), "--search", str(given)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("ganbench-compare: error: --search: ")
    if which == "seeds":
        assert "no group of those runs is a search" in err and "STUDY/*/*/search" in err
    else:
        assert "nowhere" in err
    assert not out.exists()


def test_metrics_narrows_every_table_test_and_plot(tmp_path, capsys):
    for loss, kls in (("minimax", [0.1, 0.2, 0.3]), ("hinge", [0.4, 0.5, 0.6])):
        write_seed_runs(tmp_path / "study", loss, kls)
    out = tmp_path / "out"
    assert main([str(tmp_path / "study"), "--by", "loss", "--out", str(out), "--metrics", "reverse_kl"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert "reverse_kl" in header and "modes_captured" not in header and "high_quality" not in header
    columns = next(csv.reader(open(out / "comparison.csv")))
    assert [c for c in columns if c.startswith(("modes_captured", "high_quality"))] == []
    assert {r["metric"] for r in csv.DictReader(open(out / "significance.csv"))} == {"reverse_kl"}
    assert "modes_captured" not in (out / "findings.md").read_text()
    assert "Not shown (--metrics): high_quality, modes_captured." in (out / "comparison.md").read_text()
    assert not list(out.glob("*.png"))  # the runs' metrics.csv have no reverse_kl curve to plot
    # modes_captured has a curve: plotted by default, not when --metrics leaves it out
    write_run(tmp_path / "curves", "r", loss="hinge", metrics={"modes_captured": 8, "reverse_kl": 0.1},
              curve=[(50, 4), (100, 8)])  # fmt: skip
    assert "modes_captured.png" in [f.name for f in compare([tmp_path / "curves"], out=tmp_path / "all").files]
    assert not list(compare([tmp_path / "curves"], out=out, metrics=["reverse_kl"]).out.glob("modes*.png"))
    # the same numbers as the full comparison
    full = compare([tmp_path / "study"], by=["loss"], out=tmp_path / "full", plots=False)
    narrow = compare([tmp_path / "study"], by=["loss"], out=tmp_path / "narrow", plots=False, metrics=["reverse_kl"])
    assert [s.metrics["reverse_kl"] for s in narrow.stats] == [s.metrics["reverse_kl"] for s in full.stats]


def test_an_unknown_metric_is_one_line_and_writes_nothing(tmp_path, capsys):
    write_seed_runs(tmp_path / "study", "minimax", [0.1, 0.2, 0.3])
    out = tmp_path / "out"
    assert main([str(tmp_path / "study"), "--out", str(out), "--metrics", "reverse_kl,reverse_lk"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "ganbench-compare: error: --metrics: no completed run has 'reverse_lk'; the runs have high_quality, "
        "modes_captured, reverse_kl"
    )
    assert not out.exists()
