"""The built wheel carries the Hydra configs, and ganbench finds them from an installed wheel."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_carries_conf_and_finds_it(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("ganbench-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    conf_files = {p.relative_to(ROOT).as_posix() for p in (ROOT / "conf").rglob("*.yaml")}
    assert {f"ganbench/{f}" for f in conf_files} <= names
    assert "ganbench/train.py" in names

    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        timeout=300,
    )
    code = (
        "from ganbench.config import compose; from ganbench.paths import conf_dir; "
        "print(conf_dir()); print(compose(['loss=hinge']).loss._target_)"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    )
    found, target_cls = out.stdout.split()
    assert Path(found) == target / "ganbench" / "conf"
    assert target_cls == "ganbench.losses.HingeLoss"
