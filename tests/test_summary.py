"""summary.json is written atomically and follows its schema."""

from __future__ import annotations

import json
import os

import pytest

from ganbench.summary import atomic_write_text, load_record, write_record


def test_roundtrip_and_non_finite_values(tmp_path):
    record = {"status": "diverged", "iterations": 3, "seed": 0, "choices": {}, "metrics": {"reverse_kl": float("inf")}}
    write_record(tmp_path, record)
    s = load_record(tmp_path)
    assert s.status == "diverged" and s.metrics["reverse_kl"] == "inf"
    json.loads((tmp_path / "summary.json").read_text())  # strict JSON


def test_bad_status_is_refused(tmp_path):
    with pytest.raises(ValueError, match="status"):
        write_record(tmp_path, {"status": "done"})


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "summary.json"
    atomic_write_text(path, "old")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]
