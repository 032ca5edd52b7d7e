"""The leaves every config check builds on: the error a user's config raises, the line that names
a key that is not a setting, an exception in one line, the lookup of a ``_target_``, and the device count a ``devices``
setting asks for. Imports nothing of ganbench."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any


class ConfigError(ValueError):
    """The config cannot work; the message lists every problem found and how to fix it."""


def not_a_setting(key: str, closest: str | None, where: str, settings: Sequence[str], why: str = "") -> str:
    """``<key> is not a setting[ (why)]; did you mean <closest>=…? <where> has: <settings>``, one line."""
    hint = f"did you mean {closest}=…? " if closest else ""
    listed = f"{where} has: {', '.join(settings)}" if settings else f"{where} has no settings"
    return f"{key} is not a setting{f' ({why})' if why else ''}; {hint}{listed}"


def one_line(error: BaseException) -> str:
    """``Type: message`` of ``error`` on one line."""
    message = " ".join(str(error).split())
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def locate(target: str) -> Any:
    """The object a ``_target_`` path names (``pkg.module.Class``), imported quietly: ImportError
    with the reason when it cannot be found (Hydra's own lookup also logs an error for each try)."""
    parts = str(target).split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError as err:
            if err.name and not ".".join(parts[:cut]).startswith(err.name):
                raise ImportError(str(err)) from None  # the module exists but an import inside it fails
            continue
        for name in parts[cut:]:
            try:
                obj = getattr(obj, name)
            except AttributeError:
                raise ImportError(f"{'.'.join(parts[:cut])} has no {name!r}") from None
        return obj
    raise ImportError(f"no module named {parts[0]!r}")


def requested_devices(devices: Any) -> int | None:
    """The number of devices a Lightning ``devices`` setting asks for (an int, a digit string or a
    list of ids); None for ``"auto"``."""
    if isinstance(devices, int):
        return devices
    if isinstance(devices, str) and devices.strip().lstrip("-").isdigit():
        return int(devices)
    if isinstance(devices, (list, tuple)) or hasattr(devices, "__len__") and not isinstance(devices, str):
        return len(devices)
    return None  # "auto"
