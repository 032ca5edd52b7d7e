"""The objectives a config directory offers: every ``<dir>/loss/*.yaml``, instantiated with Hydra.

A new objective is one class and one YAML file: the loss tests (tests/losses) and the tables of
docs/objectives.md find it here. What it supports of the theory checks the class declares itself
(:attr:`GANLoss.has_pointwise_optimum`, :meth:`GANLoss.optimum_identity`,
:attr:`GANLoss.shift_invariant`). ``scripts/loss_tables.py`` writes the tables; a test fails when
the page is out of date.
"""

from __future__ import annotations

from pathlib import Path

from hydra.utils import instantiate
from omegaconf import OmegaConf

from ganbench.losses.base import GANLoss
from ganbench.losses.fgan import FGANLoss
from ganbench.losses.gradients import gradient_table
from ganbench.losses.relativistic import RelativisticAverageLoss, RelativisticLoss
from ganbench.paths import conf_dir

CLASSIC = ("minimax", "nonsaturating", "least_squares", "least_squares_pearson", "hinge", "wasserstein")


def loss_dir(config_dir: Path | None = None) -> Path:
    """``<config_dir>/loss``; ganbench's own ``conf/loss`` by default."""
    return Path(config_dir if config_dir is not None else conf_dir()) / "loss"


def loss_files(config_dir: Path | None = None) -> list[Path]:
    """The loss YAMLs of a config directory, classic objectives first (in the order of the README),
    then f-GANs, relativistic, relativistic average, then any other in name order."""
    directory = loss_dir(config_dir)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory} is not a directory: give a config directory that holds loss/*.yaml")
    return sorted(directory.glob("*.yaml"), key=_family_order)


def config_losses(saddle_variants: bool = False, config_dir: Path | None = None) -> dict[str, GANLoss]:
    """Every objective of ``<config_dir>/loss/`` with its YAML's arguments, keyed by option name.

    With ``saddle_variants``, each f-GAN option is followed by its ``generator=saddle`` variant,
    keyed ``<option> (saddle)``.
    """
    losses: dict[str, GANLoss] = {}
    for path in loss_files(config_dir):
        node = OmegaConf.load(path)
        losses[path.stem] = instantiate(node)
        if saddle_variants and node.get("generator") == "practical":
            losses[f"{path.stem} (saddle)"] = instantiate(node, generator="saddle")
    return losses


def _family_order(path: Path) -> tuple[int, str]:
    if path.stem in CLASSIC:
        return (0, f"{CLASSIC.index(path.stem):02d}")
    target = str(OmegaConf.load(path).get("_target_", ""))
    families = {FGANLoss: 1, RelativisticLoss: 2, RelativisticAverageLoss: 3}
    rank = next((r for cls, r in families.items() if target.endswith(cls.__name__)), 4)
    return (rank, path.stem)


def description(path: Path) -> str:
    """The leading comment block of a loss YAML, as one line (its documentation)."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    return " ".join(line for line in lines if line)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def options_table(config_dir: Path | None = None) -> str:
    """Markdown table of every loss option: its class, arguments, what the theory tests check of it
    (from the class's declarations) and the YAML's own description."""
    header = ["`loss=`", "class", "arguments", "optimal D pointwise", "identity at the optimum", "description"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for path in loss_files(config_dir):
        node = OmegaConf.load(path)
        loss = instantiate(node)
        args = ", ".join(f"{k}={v}" for k, v in node.items() if k != "_target_") or "none"
        identity = loss.optimum_identity() if loss.has_pointwise_optimum else None
        if identity is None:
            shown = "none declared"
        else:
            term = f"{abs(identity.scale):g}·`{identity.divergence}`"
            sign = "−" if identity.scale < 0 else "+"
            shown = f"{identity.offset:.6g} {sign} {term}" if identity.offset else ("−" if sign == "−" else "") + term
        cells = [
            f"`{path.stem}`",
            f"`{node._target_}`",
            _cell(args),
            "yes" if loss.has_pointwise_optimum else "no",
            shown,
            _cell(description(path)),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def replace_block(text: str, marker: str, table: str) -> str:
    """``text`` with the block between ``<!-- {marker}:start -->`` and ``<!-- {marker}:end -->``
    replaced by ``table``."""
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    if start not in text or end not in text:
        raise ValueError(f"the page lacks the markers {start} and {end}; add them where the table belongs")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{table}{end}{tail}"


def render_docs(text: str, config_dir: Path | None = None) -> str:
    """docs/objectives.md with its generated tables (options, generator gradients) brought up to date."""
    text = replace_block(text, "loss-table", options_table(config_dir))
    return replace_block(text, "gradient-table", gradient_table(config_losses(True, config_dir)))
