"""Send a PNG (a sample grid or plot) to TensorBoard.

Loggers are recognised by class name, so TensorBoard need not be installed: ``TensorBoardLogger``
gets ``add_image`` on its SummaryWriter, with the iteration as x-axis, as for the metrics. W&B gets
the same PNGs from :class:`ganbench.wandb_support.WandbImages` (one ``wandb.Image`` per evaluation,
captioned with its metrics), so they are not sent here a second time. Other loggers (ganbench's CSV
logger) have no images and are skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any


def _is(logger: Any, class_name: str) -> bool:
    return any(cls.__name__ == class_name for cls in type(logger).__mro__)


def shows_images(loggers: Iterable[Any]) -> bool:
    """Whether one of ``loggers`` shows images (TensorBoard, W&B): it takes each plot when made."""
    return any(_is(logger, "TensorBoardLogger") or _is(logger, "WandbLogger") for logger in loggers)


def read_png(path: Path) -> Any:
    """The image at ``path`` as a uint8 (H, W, 3) numpy array."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def log_image(loggers: Iterable[Any], key: str, path: Path, iteration: int) -> list[str]:
    """Log the PNG at ``path`` under ``key`` at ``iteration`` to every logger that shows images;
    return the class names of the loggers that received it."""
    path = Path(path)
    sent: list[str] = []
    pixels = None
    for logger in loggers:
        if _is(logger, "TensorBoardLogger"):
            pixels = read_png(path) if pixels is None else pixels
            logger.experiment.add_image(key, pixels, global_step=iteration, dataformats="HWC")
            sent.append(type(logger).__name__)
    return sent
