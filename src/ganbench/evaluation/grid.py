"""Sample grids: the first samples of the fixed evaluation noise, saved as a PNG.

The grid's pixels are made here (torch); the PNG is written by :func:`grid_png` (numpy and PIL
only), which :mod:`ganbench.rendering`'s worker process may run.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ganbench.rendering import RenderJob, render
from ganbench.summary import readable_mode

if TYPE_CHECKING:
    from torch import Tensor


def image_grid(samples: Tensor, nrow: int | None = None, padding: int = 2, min_size: int = 256) -> Tensor:
    """uint8 (H, W, 3) grid of images in [−1, 1] (N, C, R, R): ``nrow`` per row (√N by default),
    ``padding`` white pixels between cells, enlarged by an integer factor (nearest neighbour) so
    the grid is at least ``min_size`` pixels wide."""
    from torchvision.utils import make_grid

    from ganbench.evaluation.features import to_uint8

    images = to_uint8(samples).cpu()
    nrow = nrow or max(1, math.ceil(math.sqrt(images.shape[0])))
    grid = make_grid(images, nrow=nrow, padding=padding, pad_value=255)
    scale = max(1, math.ceil(min_size / grid.shape[-1]))
    if scale > 1:
        grid = grid.repeat_interleave(scale, dim=1).repeat_interleave(scale, dim=2)
    return grid.permute(1, 2, 0).contiguous()


def grid_png(path: Path, pixels: np.ndarray, title: str = "") -> Path:
    """Write the uint8 (H, W, 3) ``pixels`` to ``path`` (PNG, with ``title`` as its Title text
    chunk), atomically."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    info = PngInfo()
    if title:
        info.add_text("Title", title)
    image = Image.fromarray(np.asarray(pixels))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".png")
    os.close(fd)
    try:
        image.save(tmp, format="PNG", pnginfo=info)
        os.chmod(tmp, readable_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def grid_job(samples: Tensor, path: Path, title: str = "", nrow: int | None = None) -> RenderJob:
    """:func:`image_grid` of ``samples``, to be written to ``path`` by :func:`grid_png`."""
    pixels = image_grid(samples, nrow).numpy()
    return RenderJob("ganbench.evaluation.grid:grid_png", Path(path), {"pixels": pixels, "title": title})


def save_grid(samples: Tensor, path: Path, title: str = "", nrow: int | None = None) -> Path:
    """Write :func:`image_grid` of ``samples`` to ``path`` (PNG, with ``title`` as its Title text
    chunk), atomically."""
    return render(grid_job(samples, path, title, nrow))


def grid_cell(grid: Tensor, index: int, nrow: int, size: int, padding: int = 2, scale: int = 1) -> Tensor:
    """The (size, size, 3) cell ``index`` of an :func:`image_grid` (for checks)."""
    row, col = divmod(index, nrow)
    step = size + padding
    y, x = (padding + row * step) * scale, (padding + col * step) * scale
    return grid[y : y + size * scale : scale, x : x + size * scale : scale]
