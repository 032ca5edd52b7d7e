"""``findings.md``: every pair of groups, each written the way round its metric reads, with the
exact p, the Holm-adjusted p and the effect sizes; the significant pairs first.

A pair's better-looking group comes first: the one a run of which beats a run of the other more
often than not in the metric's direction (probability of improvement at least ½). The file holds no
path, date or timing, so the same runs always give the same bytes (a study README can quote it and
a test can compare the two).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ganbench.compare.stats import ALPHA, Significance
from ganbench.compare.tables import ARROW, BETTER
from ganbench.statistics import PairTest
from ganbench.summary import atomic_write_text

FINDINGS = "findings.md"


@dataclass(frozen=True)
class Finding:
    """One pair, its better-looking group first."""

    dataset: str
    metric: str
    direction: str
    first: str
    second: str
    n_first: int
    n_second: int
    p: float
    p_holm: float
    significant: bool
    prob: float  # P(a run of first beats a run of second), ties ½
    prob_ci: tuple[float, float]
    shift: float  # Hodges–Lehmann median difference first − second, metric units
    shift_ci: tuple[float, float]


def oriented(sig: Significance, t: PairTest) -> Finding:
    """The test ``t`` written with its better-looking group first (U of a over b against half of
    n_a n_b, in the metric's direction); probability of improvement and median difference follow
    the swap: P → 1 − P, shift → −shift, intervals mirrored."""
    half = t.n_a * t.n_b / 2
    a_first = t.u >= half if sig.direction == "max" else t.u <= half
    prob, prob_ci, shift, shift_ci = t.prob_a_better, t.prob_ci, t.shift, t.shift_ci
    if a_first:
        return Finding(sig.dataset, sig.metric, sig.direction, t.a, t.b, t.n_a, t.n_b, t.p, t.p_holm,
                       t.better is not None, prob, prob_ci, shift, shift_ci)  # fmt: skip
    return Finding(sig.dataset, sig.metric, sig.direction, t.b, t.a, t.n_b, t.n_a, t.p, t.p_holm,
                   t.better is not None, 1 - prob, (1 - prob_ci[1], 1 - prob_ci[0]), -shift,
                   (-shift_ci[1], -shift_ci[0]))  # fmt: skip


def ordered(sig: Significance) -> list[Finding]:
    """The pairs of one dataset and metric: the significant ones first, each part by Holm p, then p."""
    found = [oriented(sig, t) for t in sig.tests]
    return sorted(found, key=lambda f: (not f.significant, f.p_holm, f.p, f.first, f.second))


def _num(x: float) -> str:
    if math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return f"{x + 0.0:.3g}".replace("-", "−")  # + 0.0: −0.0 (the mirror of a zero shift) reads 0


def _p(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.2g}"


def _with_interval(value: float, interval: tuple[float, float]) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isnan(interval[0]):
        return _num(value)
    return f"{_num(value)} [{_num(interval[0])}, {_num(interval[1])}]"


def sentence(f: Finding) -> str:
    """``ring, mode_tv ↓: a better than b (p = …, Holm p = …, P(a better) = … [ … ], …)``."""
    return (
        f"{f.dataset}, {f.metric} {ARROW[f.direction]}: {f.first} better than {f.second} "
        f"({f.n_first} against {f.n_second} runs; p = {_p(f.p)}, Holm p = {_p(f.p_holm)}; "
        f"P({f.first} better) = {_with_interval(f.prob, f.prob_ci)}; "
        f"median difference {_with_interval(f.shift, f.shift_ci)})"
    )


HEADER = (
    "| first | second | runs | p | Holm p | significant | P(first better) [95% CI] | "
    "median difference first − second [95% CI] |"
)


def _row(f: Finding) -> str:
    cells = [f.first, f.second, f"{f.n_first} vs {f.n_second}", _p(f.p), _p(f.p_holm),
             "yes" if f.significant else "no", _with_interval(f.prob, f.prob_ci),
             _with_interval(f.shift, f.shift_ci)]  # fmt: skip
    return "| " + " | ".join(cells) + " |"


def findings_markdown(tests: Sequence[Significance], alpha: float = ALPHA) -> str:
    """The text of ``findings.md``."""
    md = [
        "# Findings",
        "",
        "Every pair of groups on the same dataset, for each metric with a direction (↑ higher is better, "
        "↓ lower is better), the better-looking group of the pair first. p: the two-sided exact Mann–Whitney "
        "test (its permutation distribution, ties included). Holm p: adjusted over the pairs of the same "
        f"dataset and metric; a pair differs significantly when it is below {alpha}. P(first better): the "
        "probability that a run of the first group beats a run of the second in the metric's direction, ties "
        "counting ½ (the Vargha–Delaney A), with its seeded bootstrap 95 % interval. Median difference: the "
        "Hodges–Lehmann estimate of first − second in the metric's units, with its distribution-free 95 % "
        "interval (±∞ where the groups are too small for one).",
        "",
        f"## Pairs that differ significantly (Holm p < {alpha})",
        "",
    ]
    significant = [f for sig in tests for f in ordered(sig) if f.significant]
    md += [f"- {sentence(f)}" for f in significant] or ["None."]
    md.append("")
    for dataset in sorted({sig.dataset for sig in tests}):
        md += [f"## {dataset}", ""]
        for sig in (s for s in tests if s.dataset == dataset):
            md += [f"### {sig.metric} {ARROW[sig.direction]} ({BETTER[sig.direction]})", ""]
            md += [
                f"The smallest Holm p these group sizes allow: {_p(sig.floor)}"
                + (" (no pair can differ significantly)." if sig.floor >= alpha else "."),
                "",
                HEADER,
                "|" + "---|" * HEADER.count(" | ") + "---|",
                *[_row(f) for f in ordered(sig)],
                "",
            ]
    return "\n".join(md)


def write_findings(path: Path, tests: Sequence[Significance], alpha: float = ALPHA) -> Path:
    atomic_write_text(path, findings_markdown(tests, alpha))
    return path
