"""Hydra's composition errors (a typo in a key, a value of the wrong type, an option a config
group does not have, an override that does not parse) as one line that names the fix.

Hydra prints them over several lines, some with advice that does not apply to a structured config
("To append to your config use +key=value"). :func:`composition_problem` turns each into one line:
the override as typed, what is wrong, and the closest setting or option there is.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence

from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException, ValidationError

from ganbench._compat import config_root
from ganbench.errors import not_a_setting

__all__ = ["COMPOSITION_ERRORS", "composition_problem"]

COMPOSITION_ERRORS = (ConfigCompositionException, OverrideParseException)


def composition_problem(err: BaseException, overrides: Sequence[str] = ()) -> str | None:
    """One line for a composition error of Hydra's, or None when ``err`` is not one; ``overrides``
    (the command line) gives a group override's prefix (``+callbacks=…``) back to the suggestion."""
    if isinstance(err, MissingConfigException) and err.missing_cfg_file and err.options is not None:
        return _missing_option(err.missing_cfg_file, list(err.options), overrides)
    if isinstance(err, OverrideParseException):
        return (
            f"the command line does not parse ({_first_line(err)}); write each override as key=value, "
            "quoting a value with spaces, brackets or quotes (https://hydra.cc/docs/advanced/override_grammar/basic/)"
        )
    if not isinstance(err, ConfigCompositionException):
        return None
    cause = err.__cause__
    if isinstance(cause, (ConfigKeyError, ConfigAttributeError)) and cause.full_key:
        return _unknown_key(str(cause.full_key), cause.parent_node)
    if isinstance(cause, ValidationError):
        override = _first_line(err).removeprefix("Error merging override ").strip()
        return f"{override}: {_first_line(cause)}"
    if isinstance(cause, OmegaConfBaseException):
        return f"{_first_line(err)} ({_first_line(cause)})"
    return _first_line(err)


def _missing_option(missing: str, options: list[str], overrides: Sequence[str]) -> str:
    group, _, name = missing.rpartition("/")
    typed = next((o.split("=", 1)[0] for o in overrides if o.split("=", 1)[0].lstrip("+~") == group), group)
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.5)
    hint = f"did you mean {typed}={close[0]}? " if close else ""
    return f"{typed}={name}: conf/{group}/ has no {name}.yaml; {hint}options: {', '.join(options)}"


def _unknown_key(full_key: str, parent: object) -> str:
    parent_path, _, leaf = full_key.rpartition(".")
    where = parent_path or "the root config"
    in_hydra = full_key.startswith("hydra.")
    siblings = sorted(str(k) for k in parent.keys()) if isinstance(parent, DictConfig) else []
    siblings = [k for k in siblings if not k.startswith("_") and (k != "hydra" or in_hydra)]
    root = config_root(parent) if isinstance(parent, DictConfig) else None
    ancestors = {full_key.rsplit(".", n)[0] for n in range(full_key.count(".") + 1)}
    keys = [k for k in _dotted_keys(root) if k.startswith("hydra") == in_hydra] if root is not None else []
    keys = [k for k in keys if k not in ancestors and not k.rpartition(".")[2].startswith("_")]
    # the same setting elsewhere (eval.num_samples -> evaluator.num_samples), else the closest spelling
    same_leaf = [k for k in keys if k.rpartition(".")[2] == leaf]
    close = difflib.get_close_matches(full_key, same_leaf, n=1, cutoff=0.0) if same_leaf else []
    close = close or difflib.get_close_matches(full_key, keys, n=1, cutoff=0.6)
    return not_a_setting(full_key, close[0] if close else None, where, siblings)


def _dotted_keys(node: DictConfig, prefix: str = "") -> Iterator[str]:
    for key in node.keys():
        path = f"{prefix}{key}"
        yield path
        if OmegaConf.is_missing(node, key) or OmegaConf.is_interpolation(node, key):
            continue
        child = node.get(key)
        if isinstance(child, DictConfig):
            yield from _dotted_keys(child, f"{path}.")


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0].strip() if text else type(err).__name__
