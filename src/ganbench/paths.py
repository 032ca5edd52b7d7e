"""Where ganbench's own files are. Imports nothing of ganbench."""

from __future__ import annotations

from pathlib import Path


def conf_dir() -> Path:
    """The ``conf/`` directory: inside the installed wheel, or at the top of a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "conf", here.parents[1] / "conf"):
        if (candidate / "train.yaml").is_file():
            return candidate
    raise FileNotFoundError(
        f"ganbench cannot find its configs: neither {here / 'conf'} nor {here.parents[1] / 'conf'} "
        "holds train.yaml. Reinstall ganbench (pip install -e . from a checkout, or the wheel)."
    )
