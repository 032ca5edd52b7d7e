"""Any directory of images, searched recursively, each image resized (shorter side) and
centre-cropped to ``resolution``.

Every file is opened and checked once, before training starts (PIL's ``verify``): unreadable or
truncated images are reported up front, with their count and paths, and either skipped
(``on_corrupt=skip``, the default) or refused (``on_corrupt=error``), instead of crashing a
DataLoader worker hours into a run.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from ganbench.data.images import ImageDataModule, TransformedImages, missing_data_error

log = logging.getLogger("ganbench")
ON_CORRUPT = ("skip", "error")


def find_images(root: Path) -> list[Path]:
    """Image files under ``root`` (any depth), with torchvision's image extensions, sorted."""
    from torchvision.datasets.folder import IMG_EXTENSIONS

    return sorted(p for p in root.rglob("*") if p.is_file() and p.name.lower().endswith(IMG_EXTENSIONS))


def unreadable_images(files: list[Path]) -> dict[Path, str]:
    """The files PIL cannot open and decode, with the reason (``verify`` checks the structure,
    then a full ``load`` catches truncated pixel data)."""
    from PIL import Image

    bad: dict[Path, str] = {}
    for f in files:
        try:
            with Image.open(f) as image:
                image.verify()
            with Image.open(f) as image:
                image.load()
        except Exception as err:  # PIL raises many types (OSError, SyntaxError, ValueError …)
            bad[f] = f"{type(err).__name__}: {err}"
    return bad


class ImageFiles(Dataset):
    """The image files under a folder, opened with torchvision's default (PIL) loader."""

    def __init__(self, files: list[Path]) -> None:
        self.files = files

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> Any:
        from torchvision.datasets.folder import default_loader

        return default_loader(str(self.files[index]))


class FolderDataModule(ImageDataModule):
    """All images under ``root`` (one split, ``all``)."""

    name = "folder"
    splits = ("all",)

    def __init__(
        self,
        root: str,
        resolution: int = 64,
        channels: int = 3,
        split: str = "all",
        on_corrupt: str = "skip",
        **kwargs: Any,
    ) -> None:
        super().__init__(resolution=resolution, channels=channels, split=split, **kwargs)
        if root is None or str(root) in ("", "???"):
            raise ValueError("dataset=folder needs dataset.root=/path/to/images")
        if on_corrupt not in ON_CORRUPT:
            raise ValueError(f"dataset.on_corrupt must be one of {', '.join(ON_CORRUPT)}, got {on_corrupt!r}")
        self.root = Path(root).expanduser()
        self.on_corrupt = on_corrupt
        self.skipped: dict[Path, str] = {}
        self._files: list[Path] | None = None

    def files(self) -> list[Path]:
        if self._files is None:
            how = (
                "Point dataset.root at a folder that contains images (searched recursively; extensions "
                ".jpg .jpeg .png .ppm .bmp .pgm .tif .tiff .webp)."
            )
            if not self.root.is_dir():
                raise missing_data_error("image folder", self.root, how)
            files = find_images(self.root)
            if not files:
                raise missing_data_error("any image file", self.root, how)
            bad = unreadable_images(files)
            if bad:
                listing = "\n".join(f"  {f}: {why}" for f, why in list(bad.items())[:20])
                more = f"\n  … and {len(bad) - 20} more" if len(bad) > 20 else ""
                if self.on_corrupt == "error" or len(bad) == len(files):
                    raise ValueError(
                        f"{len(bad)} of {len(files)} image files under {self.root} cannot be read:\n{listing}{more}\n"
                        "Remove or repair them, or set dataset.on_corrupt=skip to train on the readable ones."
                    )
                log.warning(
                    "skipping %d of %d image files under %s that cannot be read:\n%s%s",
                    len(bad),
                    len(files),
                    self.root,
                    listing,
                    more,
                )
                files = [f for f in files if f not in bad]
            self.skipped = bad
            self._files = files
        return self._files

    def identity(self) -> dict[str, Any]:
        """The folder, its file list and their sizes and modification times: the cache is invalidated
        when files are added, removed or changed."""
        digest = hashlib.sha256()
        for f in self.files():
            st = f.stat()
            digest.update(f"{f.relative_to(self.root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return {"root": str(self.root.resolve()), "files": len(self.files()), "content": digest.hexdigest()[:16]}

    def load(self, split: str) -> Dataset:
        return TransformedImages(ImageFiles(self.files()), self.resolution, self.channels)
