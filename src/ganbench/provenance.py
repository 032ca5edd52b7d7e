"""What code a run ran: the ``code`` of its record.

ganbench's version and, when it runs from a git checkout (``pip install -e .``), the commit and
whether ganbench's tracked files (``src/``, ``conf/``, ``pyproject.toml``) differ from it; then the
versions of Python and of the libraries the results depend on. Two runs that say the same here and
have the same resolved config ran the same program.
"""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

# the libraries whose version can change a run's numbers
LIBRARIES = ("torch", "lightning", "torchmetrics", "numpy", "scipy", "hydra-core", "omegaconf")
# what a checkout's "modified" looks at: ganbench's code and configs, not its docs or study records
CODE_PATHS = ("src", "conf", "pyproject.toml")


def _git(checkout: Path, *args: str) -> str | None:
    """``git -C checkout args``'s output, stripped; None when git is missing or fails."""
    try:
        done = subprocess.run(["git", "-C", str(checkout), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def checkout_of(package_dir: Path) -> Path | None:
    """The git checkout ``package_dir`` is the ``src/ganbench`` of, or None (an installed wheel, or
    a package inside some other repository, such as a virtual environment kept in a checkout)."""
    top = _git(package_dir, "rev-parse", "--show-toplevel")
    if top is None:
        return None
    top_dir = Path(top).resolve()
    return top_dir if (top_dir / "src" / package_dir.name).resolve() == package_dir.resolve() else None


def code_version(package_dir: Path | None = None) -> dict[str, Any]:
    """The ``code`` of a run record: ``ganbench`` (its version), ``commit`` and ``modified`` (None
    outside a git checkout), ``python`` and each of :data:`LIBRARIES` that is installed."""
    import ganbench

    package_dir = Path(package_dir or Path(ganbench.__file__).parent).resolve()
    out: dict[str, Any] = {"ganbench": ganbench.__version__, "commit": None, "modified": None}
    checkout = checkout_of(package_dir)
    if checkout is not None:
        commit = _git(checkout, "rev-parse", "HEAD")
        changes = _git(checkout, "status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS)
        if commit is not None and changes is not None:
            out["commit"], out["modified"] = commit, bool(changes)
    out["python"] = platform.python_version()
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out
