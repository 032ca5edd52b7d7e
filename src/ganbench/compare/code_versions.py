"""What code the compared runs ran (each record's ``code``, :mod:`ganbench.provenance`): a warning
when it was not the same for all of them, or differed from its commit."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from ganbench.compare.records import Run

NOT_RECORDED = "not recorded (runs from before ganbench recorded its code)"


def _version(code: dict[str, Any] | None, keys: Sequence[str]) -> str:
    """One version as the warning names it: the ``keys`` that tell the versions apart."""
    if not isinstance(code, dict):
        return NOT_RECORDED
    shown = []
    for key in keys:
        value = code.get(key)
        if key == "commit" and isinstance(value, str):
            value = value[:7] + (" (modified)" if code.get("modified") else "")
        shown.append(f"{key} {value if value is not None else '—'}")
    return ", ".join(shown)


def code_warnings(runs: Sequence[Run]) -> list[str]:
    """The warnings about the code ``runs`` ran: more than one version among them (the commit, a
    library's version or ``modified`` differing, or some runs not saying), and runs that ran
    code differing from their commit, which the commit alone does not identify."""
    codes = [r.summary.get("code") for r in runs]
    counts = Counter(json.dumps(c, sort_keys=True) for c in codes)
    out = []
    if len(counts) > 1:
        recorded = [c for c in codes if isinstance(c, dict)]
        keys = sorted({k for c in recorded for k in c if len({json.dumps(d.get(k)) for d in recorded}) > 1})
        if "modified" in keys:  # shown with the commit
            keys = ["commit", *(k for k in keys if k not in ("commit", "modified"))]
        keys = keys or ["commit"]
        parts = [f"{_version(json.loads(k), keys)} ({n} run{'' if n == 1 else 's'})" for k, n in counts.most_common()]
        out.append(f"the {len(runs)} runs ran {len(counts)} versions of the code: " + "; ".join(parts)
                   + " (each run's summary.json, code)")  # fmt: skip
    modified = sum(isinstance(c, dict) and c.get("modified") is True for c in codes)
    if modified:
        out.append(f"{modified} of {len(runs)} runs ran code that differs from its commit (code.modified): "
                   "the commit alone does not say what they ran")  # fmt: skip
    return out
