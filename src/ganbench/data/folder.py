"""Any directory of images, searched recursively, each image resized (shorter side) and
centre-cropped to ``resolution``."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from ganbench.data.images import ImageDataModule, TransformedImages, missing_data_error


def find_images(root: Path) -> list[Path]:
    """Image files under ``root`` (any depth), with torchvision's image extensions, sorted."""
    from torchvision.datasets.folder import IMG_EXTENSIONS

    return sorted(p for p in root.rglob("*") if p.is_file() and p.name.lower().endswith(IMG_EXTENSIONS))


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

    def __init__(self, root: str, resolution: int = 64, channels: int = 3, split: str = "all", **kwargs: Any) -> None:
        super().__init__(resolution=resolution, channels=channels, split=split, **kwargs)
        if root is None or str(root) in ("", "???"):
            raise ValueError("dataset=folder needs dataset.root=/path/to/images")
        self.root = Path(root).expanduser()
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
