"""Every study README's tables and quoted findings are ganbench-compare's output on the committed run
records, byte for byte.

A study README gives, in a ```bash block, the ``ganbench-compare`` commands that read its committed
records (paths under ``experiments/``). This test runs each of them, exactly as written, from the
root of a scratch copy of the records, and then checks:

- every text file (``.md``, ``.csv``) in each command's committed ``--out`` folder equals the one
  written now, and no text file is missing or extra;
- every block of a README between ``<!-- generated: PATH -->`` and ``<!-- end generated -->`` is a
  run of whole lines of PATH (relative to the README) as written now;
- every Markdown table of a study README is inside such a block, or follows a
  ``<!-- not generated: why -->`` line (a published paper's numbers, a summary of settings);
- every ```console block that starts with ``$ ganbench-study … --status`` (where a running study
  stands, read from its committed records) shows what that command prints now;
- every ```console block that starts with ``$ git diff --stat`` (what changed in the code between
  the commits that ran a study's records) shows what git prints (skipped where the clone lacks them).

So a README that drifts from its data, or data that drifts from its README, fails here.
"""

from __future__ import annotations

import glob
import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from ganbench.compare.cli import main as compare_main
from ganbench.compare.cli import parse_args
from ganbench.study import main as study_main

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments"
BEGIN = re.compile(r"<!-- generated: (\S+) -->")
END = "<!-- end generated -->"
EXEMPT = re.compile(r"<!-- not generated: .+ -->")
TEXT_SUFFIXES = (".md", ".csv")


def compare_commands(readme: str) -> list[str]:
    """The ganbench-compare commands of the README's ```bash blocks that read only paths under
    ``experiments/`` (the committed records), continuation lines joined."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", readme, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            if not line.startswith("ganbench-compare "):
                continue
            paths = [str(p) for p in parse_args(shlex.split(line)[1:]).paths]  # as ganbench-compare reads them
            if all(p.startswith("experiments/") for p in paths):
                commands.append(line)
    return commands


def out_dir(command: str) -> str:
    return str(parse_args(shlex.split(command)[1:]).out)


def generated_blocks(readme: str) -> list[tuple[str, str, int]]:
    """``(path, text, line number)`` of each generated block."""
    blocks, lines, i = [], readme.splitlines(), 0
    while i < len(lines):
        m = BEGIN.fullmatch(lines[i].strip())
        if m:
            end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == END), None)
            assert end is not None, f"line {i + 1}: {lines[i]} has no {END}"
            blocks.append((m.group(1), "\n".join(lines[i + 1 : end]), i + 1))
            i = end
        i += 1
    return blocks


def tables_outside_blocks(readme: str) -> list[int]:
    """The first line number of each Markdown table neither in a generated block nor exempted."""
    found, inside, exempt, previous = [], False, False, ""
    for n, line in enumerate(readme.splitlines(), 1):
        s = line.strip()
        if BEGIN.fullmatch(s):
            inside = True
        elif s == END:
            inside = False
        elif EXEMPT.fullmatch(s):
            exempt = True
        elif s.startswith("|") and not previous.startswith("|"):
            if not inside and not exempt:
                found.append(n)
            exempt = False
        previous = s
    return found


def is_run_of_lines(block: str, text: str) -> bool:
    """``block``'s lines appear, whole and in order, as consecutive lines of ``text``."""
    want, have = block.strip("\n").splitlines(), text.splitlines()
    return any(have[i : i + len(want)] == want for i in range(len(have) - len(want) + 1))


def regenerate(commands: list[str], scratch: Path, root: Path = ROOT) -> None:
    """Run the commands from ``scratch``, holding a copy of every records folder of root/experiments/."""
    for records in (root / "experiments").glob("*/records*"):
        if scratch.resolve() != root.resolve():  # (root itself: writing the committed outputs)
            shutil.copytree(records, scratch / records.relative_to(root))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(scratch)
        mp.setenv("MPLBACKEND", "Agg")
        for command in commands:
            args = []
            for a in shlex.split(command)[1:]:
                args += sorted(glob.glob(a)) if glob.has_magic(a) else [a]
            assert compare_main(args) == 0, command


def check_readme(readme_path: Path, scratch: Path, committed_root: Path) -> list[str]:
    """The README's problems: text outputs and quoted blocks that differ from what its commands write
    now under ``scratch``, and tables outside generated blocks."""
    readme, problems = readme_path.read_text(), []
    where = readme_path.parent.relative_to(committed_root)
    for command in compare_commands(readme):
        fresh, committed = scratch / out_dir(command), committed_root / out_dir(command)
        names = {p.name for p in fresh.iterdir() if p.suffix in TEXT_SUFFIXES}
        kept = {p.name for p in committed.iterdir() if p.suffix in TEXT_SUFFIXES} if committed.is_dir() else set()
        problems += [f"{out_dir(command)}/{n}: committed but not written by `{command}`" for n in kept - names]
        problems += [f"{out_dir(command)}/{n}: written by `{command}` but not committed" for n in names - kept]
        changed = [n for n in sorted(names & kept) if (fresh / n).read_bytes() != (committed / n).read_bytes()]
        problems += [f"{out_dir(command)}/{n} differs from what `{command}` writes now" for n in changed]
    for path, block, line in generated_blocks(readme):
        source = scratch / where / path
        if not source.is_file():
            problems.append(f"{readme_path.name}:{line}: {path} is not written by the README's commands")
        elif not is_run_of_lines(block, source.read_text()):
            problems.append(f"{readme_path.name}:{line}: the block differs from {path} as written now")
    problems += [f"{readme_path.name}:{n}: a table outside a generated block" for n in tables_outside_blocks(readme)]
    return problems


def status_blocks(readme: str) -> list[tuple[str, str]]:
    """``(command, output)`` of each ```console block whose first line is ``$ ganbench-study … --status``."""
    found = []
    for block in re.findall(r"```console\n(.*?)```", readme, flags=re.S):
        first, _, output = block.partition("\n")
        if first.startswith("$ ganbench-study ") and "--status" in shlex.split(first):
            found.append((first[2:], output))
    return found


def status_problems(readme_path: Path, scratch: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The quoted ``--status`` outputs of the README that differ from what the command prints now,
    run from ``scratch`` (a copy of the committed records)."""
    problems = []
    for command, shown in status_blocks(readme_path.read_text()):
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(scratch)
            capsys.readouterr()
            code = study_main(shlex.split(command)[1:])
            printed = capsys.readouterr()
        if code != 0:
            problems.append(f"{readme_path.name}: `{command}` exited {code}: {printed.err.strip()}")
        elif printed.out != shown:
            problems.append(f"{readme_path.name}: `{command}` prints now:\n{printed.out}")
    return problems


def git_blocks(readme: str) -> list[tuple[list[str], str]]:
    """``(git arguments, output)`` of each ```console block whose first line is ``$ git diff --stat …``."""
    found = []
    for block in re.findall(r"```console\n(.*?)```", readme, flags=re.S):
        first, _, output = block.partition("\n")
        if first.startswith("$ git diff --stat "):
            found.append((shlex.split(first[2:])[1:], output))
    return found


STUDIES = sorted(p.parent for p in EXPERIMENTS.glob("*/README.md"))


@pytest.mark.parametrize("study", STUDIES, ids=lambda p: p.name)
def test_a_quoted_code_difference_is_what_git_prints(study):
    blocks = git_blocks((study / "README.md").read_text())
    if blocks and shutil.which("git") is None:
        pytest.skip("git is not installed")
    for args, shown in blocks:
        done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"git {' '.join(args)}: {done.stderr.strip()} (a clone without those commits)")
        assert done.stdout == shown, f"{study.name}: `git {' '.join(args)}` prints now:\n{done.stdout}"


@pytest.mark.parametrize("study", STUDIES, ids=lambda p: p.name)
def test_the_readme_equals_what_its_commands_write_from_the_committed_records(study, tmp_path):
    readme = (study / "README.md").read_text()
    commands = compare_commands(readme)
    if (study / "records").exists() or any(study.glob("records*")):
        assert commands, f"{study.name}: records are committed but the README gives no ganbench-compare command"
    regenerate(commands, tmp_path)
    assert check_readme(study / "README.md", tmp_path, ROOT) == []


@pytest.mark.parametrize("study", STUDIES, ids=lambda p: p.name)
def test_a_quoted_study_status_is_what_the_committed_records_give(study, tmp_path, capsys):
    regenerate([], tmp_path)  # a copy of the records: reading Optuna's storage must not touch the committed one
    for spec in EXPERIMENTS.glob("*/*.yaml"):  # and of the study files
        (tmp_path / spec.relative_to(ROOT)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(spec, tmp_path / spec.relative_to(ROOT))
    assert status_problems(study / "README.md", tmp_path, capsys) == []


def test_the_studies_with_records(tmp_path):
    """At least one study's tables are regenerated here (the check above is not vacuous)."""
    assert any(compare_commands((s / "README.md").read_text()) for s in STUDIES)


def test_the_check_catches_a_changed_number_anywhere(tmp_path):
    """On a study made here: the check passes, then fails for a number changed in the README's
    quoted table, in a committed output, or in a run record, and for an unquoted table."""
    from test_compare import write_run

    repo = tmp_path / "repo"
    records = repo / "experiments" / "demo" / "records"
    for loss in ("a", "b"):
        for seed in range(3):
            metrics = {"modes_captured": 8, "high_quality": 0.5 + 0.1 * seed, "reverse_kl": 0.1 * (seed + 1)}
            write_run(records, f"{loss}{seed}", loss=loss, seed=seed, metrics=metrics)
    command = "ganbench-compare experiments/demo/records --by loss --out experiments/demo/results --no-plots"
    regenerate([command], repo, root=repo)  # the committed outputs: as the command writes them
    report = (repo / "experiments/demo/results/comparison.md").read_text()
    table = next(b for b in report.split("\n\n") if b.startswith("|"))
    readme = repo / "experiments" / "demo" / "README.md"
    good = f"```bash\n{command}\n```\n\n<!-- generated: results/comparison.md -->\n{table}\n<!-- end generated -->\n"
    readme.write_text(good + "\n<!-- not generated: the paper's numbers -->\n| paper | 1 |\n|---|---|\n")

    def problems() -> list[str]:
        scratch = tmp_path / f"scratch{len(list(tmp_path.iterdir()))}"
        scratch.mkdir()
        regenerate(compare_commands(readme.read_text()), scratch, root=repo)
        return check_readme(readme, scratch, repo)

    assert compare_commands(readme.read_text()) == [command] and problems() == []
    first = re.search(r"\d\.\d+", table).group()
    changed = str(round(float(first) + 0.01, 6))
    readme.write_text(readme.read_text().replace(first, changed, 1))
    assert problems() == ["README.md:5: the block differs from results/comparison.md as written now"]
    readme.write_text(good + "\n| mine | 1 |\n|---|---|\n")
    mine = readme.read_text().splitlines().index("| mine | 1 |") + 1
    assert problems() == [f"README.md:{mine}: a table outside a generated block"]
    readme.write_text(good)
    csv = repo / "experiments/demo/results/comparison.csv"
    csv.write_text(csv.read_text().replace(first, changed, 1))
    assert problems() == [f"experiments/demo/results/comparison.csv differs from what `{command}` writes now"]
    summary = records / "a0" / "summary.json"
    summary.write_text(summary.read_text().replace('"high_quality": 0.5', '"high_quality": 0.45'))
    found = problems()
    assert "README.md:5: the block differs from results/comparison.md as written now" in found


def test_the_status_check_catches_a_changed_count(tmp_path, capsys):
    """On a study made here (two of its four runs ended): a README quoting its ``--status`` passes,
    and fails once a count in the quote differs from the records."""
    from test_compare import write_run

    repo = tmp_path / "repo"
    study = repo / "experiments" / "demo"
    seeds = study / "records" / "ring" / "hinge" / "seeds" / "top1"
    for seed in (5, 6):
        write_run(seeds, f"s{seed}", loss="hinge", seed=seed, metrics={"mode_tv": 0.1})
    (study / "study.yaml").write_text(
        "name: demo\ndatasets: [ring]\ntrials: 2\ntop_k: 1\nseeds: [5, 6]\nallow_underpowered: true\n"
        "losses:\n  hinge: {search: hinge}\n"
    )
    command = "ganbench-study experiments/demo/study.yaml --dir experiments/demo/records --status"
    readme = study / "README.md"
    shown = (
        "study demo in experiments/demo/records: 2 of 4 runs ended\n"
        "dataset  loss   search  seeds\n"
        "ring     hinge  0/2     2/2\n"
        "time: a run took a median of 0 min (wall time, over the 2 runs ended); the 2 runs left take about 1 min of "
        "run time\n"
    )  # written by hand: the two seed runs' records (wall times 15 and 16 s: a median of 15.5 s, 31 s for the
    # two search trials left), no search trial yet
    readme.write_text(f"```console\n$ {command}\n{shown}```\n")
    assert status_blocks(readme.read_text()) == [(command, shown)]
    assert status_problems(readme, repo, capsys) == []
    readme.write_text(readme.read_text().replace("2 of 4", "3 of 4"))
    (problem,) = status_problems(readme, repo, capsys)
    assert problem.startswith(f"README.md: `{command}` prints now:\nstudy demo in experiments/demo/records: 2 of 4")


RECORDS_CLAIM = re.compile(r"`(records/[\w/]+)`(?: \(|: )([\d.]+ [KM]B)(?: in (\d[\d,]*) files)?")
RUNS_CLAIM = re.compile(
    r"(\d+) run(?:s| records) add up to ([\d.]+) h of run wall time(?: and ([\d.]+) h of process CPU time)?"
)


def record_claims(readme: str) -> list[tuple[str, str, str, str | None, tuple[str, ...] | None]]:
    """``(paragraph, folder, size, files, (runs, wall h, CPU h))`` of each paragraph of the README that
    states the size of a committed records folder ("`records/…` (5.5 MB in 903 files"), with the run
    hours it states for them, if any."""
    found = []
    for paragraph in re.split(r"\n\s*\n", readme):
        flat = " ".join(paragraph.split())
        for m in RECORDS_CLAIM.finditer(flat):
            runs = RUNS_CLAIM.search(flat)
            found.append((flat[:60], m.group(1), m.group(2), m.group(3), runs.groups() if runs else None))
    return found


def records_facts(folder: Path) -> dict[str, object]:
    """What a records folder holds: its files, their bytes (what git stores), its runs' summed hours."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    summaries = [json.loads(p.read_text()) for p in folder.rglob("summary.json")]
    return {
        "size": f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.0f} KB",
        "files": str(len(files)),
        "runs": str(len(summaries)),
        "wall": f"{sum(s.get('wall_seconds') or 0 for s in summaries) / 3600:.1f}",
        "cpu": f"{sum(s.get('cpu_seconds') or 0 for s in summaries) / 3600:.1f}",
    }


@pytest.mark.parametrize("study", STUDIES, ids=lambda p: p.name)
def test_the_stated_size_and_hours_of_committed_records_are_the_records(study):
    """A README's "`records/…` (5.5 MB in 903 files" and "The 224 runs add up to 16.5 h of run wall
    time and 11.1 h of process CPU time" are recomputed from the committed records folder (decimal MB,
    or KB below 1 MB, of the files' bytes; hours from each summary.json's ``wall_seconds`` and ``cpu_seconds``)."""
    claims = record_claims((study / "README.md").read_text())
    if any(study.glob("records*")):
        assert claims, f"{study.name}: records are committed but the README does not state their size"
    for where, folder, size, files, runs in claims:
        facts = records_facts(study / folder)
        stated = {"size": size, "files": files and files.replace(",", "")}
        if runs:
            stated.update(runs=runs[0], wall=runs[1], cpu=runs[2])
        for key, value in stated.items():
            found = facts[key]
            message = f"{study.name}: {folder}: {key} {value} stated, {found} in the records ({where}…)"
            assert value is None or value == found, message


def test_the_size_check_reads_each_paragraph_s_own_claims():
    readme = (
        "Its 3 run records are committed in `records/a` (1.2 MB in 7 files). The 3 runs add up to\n"
        "0.5 h of run wall time and 0.4 h of process CPU time.\n\nThe records are in `records/b` (0.1 MB: one\n"
        "file each), and `records/c` (46 KB in 1,234 files).\n"
    )
    assert record_claims(readme) == [
        (
            "Its 3 run records are committed in `records/a` (1.2 MB in 7 ",
            "records/a",
            "1.2 MB",
            "7",
            ("3", "0.5", "0.4"),
        ),
        ("The records are in `records/b` (0.1 MB: one file each), and ", "records/b", "0.1 MB", None, None),
        ("The records are in `records/b` (0.1 MB: one file each), and ", "records/c", "46 KB", "1,234", None),
    ]


def test_the_toy_readme_s_d_fake_figures_are_the_records():
    """The saturation argument's numbers: d_fake over every logged iteration of the 40 minimax and
    non-saturating runs of the shared setting, from their committed metrics.csv."""
    import csv

    records = EXPERIMENTS / "toy_loss_study" / "records" / "shared_setting"
    runs = sorted(p for p in records.iterdir() if "_minimax_" in p.name or "_nonsaturating_" in p.name)
    series = []
    for run in runs:
        with open(run / "metrics.csv", newline="") as f:
            series.append([float(r["d_fake"]) for r in csv.DictReader(f) if r["d_fake"]])
    lowest = min(min(s) for s in series)
    first = sum(s[0] for s in series) / len(series)
    last = sum(s[-1] for s in series) / len(series)
    sentence = (f"(lowest {lowest:.3f};\nover the {len(series)} runs it averages {first:.2f} at the first logged "
                f"iteration and {last:.2f} at the last)")  # fmt: skip
    assert len(series) == 40 and lowest >= 0.10
    assert sentence in (EXPERIMENTS / "toy_loss_study" / "README.md").read_text()
