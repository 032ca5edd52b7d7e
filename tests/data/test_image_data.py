"""Image datasets: the real torchvision loading code on tiny files written in each dataset's own
on-disk format, the folder dataset's corrupt-file report, clear errors for missing data, and the
per-iteration sampler (DDP shards, resume)."""

from __future__ import annotations

import gzip
import pickle
import socket
import struct
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from ganbench.data import (
    CelebADataModule,
    CIFAR10DataModule,
    DatasetNotFoundError,
    DigitsDataModule,
    FashionMNISTDataModule,
    FolderDataModule,
    IterationSampler,
    MNISTDataModule,
)

COMMON = {"batch_size": 4, "n_critic": 1, "iterations": 3}


def signed(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).float() / 127.5 - 1


# ---------------------------------------------------------------------------------------------- digits
def test_digits_are_the_sklearn_digits_in_range():
    from sklearn.datasets import load_digits

    dm = DigitsDataModule(resolution=8, **COMMON)
    images, labels = dm.labelled("all")
    bunch = load_digits()
    assert images.shape == (1797, 1, 8, 8) and images.dtype == torch.uint8
    assert torch.equal(labels, torch.from_numpy(bunch.target).long())
    assert torch.equal(images[:, 0].long(), torch.from_numpy(np.round(bunch.images * 255 / 16)).long())
    x = dm.dataset("all")[5]
    assert x.shape == (1, 8, 8) and x.min() >= -1 and x.max() <= 1
    assert torch.allclose(x, images[5].float() / 127.5 - 1)
    assert DigitsDataModule(resolution=32, **COMMON).labelled("all")[0].shape == (1797, 1, 32, 32)


# ---------------------------------------------------------------------------------------------- MNIST
def write_idx(path: Path, array: np.ndarray, gz: bool) -> None:
    """The idx format of LeCun's MNIST files: magic (0, 0, type 0x08 = ubyte, ndim), big-endian sizes, data."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)


def write_mnist(root: Path, folder: str, gz: bool, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    out = {}
    for prefix, n in (("train", 12), ("t10k", 5)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images, gz)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels, gz)
        out["train" if prefix == "train" else "test"] = (images, labels)
    return out


@pytest.mark.parametrize("cls,folder", [(MNISTDataModule, "MNIST"), (FashionMNISTDataModule, "FashionMNIST")])
@pytest.mark.parametrize("gz", [True, False])
def test_mnist_formats_load_through_torchvision(tmp_path, cls, folder, gz):
    written = write_mnist(tmp_path, folder, gz)
    dm = cls(root=str(tmp_path), resolution=28, **COMMON)
    for split in ("train", "test"):
        images, labels = dm.labelled(split)
        assert torch.equal(images[:, 0], torch.from_numpy(written[split][0]))
        assert torch.equal(labels, torch.from_numpy(written[split][1]).long())
    dm32 = cls(root=str(tmp_path), **COMMON)  # default resolution 32, bilinear
    assert dm32.dataset("train")[0].shape == (1, 32, 32)
    assert dm32.labelled("train")[0].shape == (12, 1, 32, 32)


def test_mnist_missing_files_name_the_path_and_the_fix(tmp_path):
    dm = MNISTDataModule(root=str(tmp_path / "nowhere"), **COMMON)
    with pytest.raises(DatasetNotFoundError) as err:
        dm.setup()
    msg = str(err.value)
    assert str(tmp_path / "nowhere" / "MNIST" / "raw") in msg and "dataset.download=true" in msg
    assert "missing train-images-idx3-ubyte" in msg and "dataset.root" in msg


def test_download_failure_without_network_is_reported(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access is blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    dm = MNISTDataModule(root=str(tmp_path), download=True, **COMMON)
    with pytest.raises(DatasetNotFoundError, match="download failed"):
        dm.prepare_data()


# ---------------------------------------------------------------------------------------------- CIFAR-10
def write_cifar(root: Path, seed: int = 0) -> dict[str, tuple[np.ndarray, list[int]]]:
    """cifar-10-batches-py as distributed: pickled dicts with 'data' (N, 3072) uint8 rows (R, G, B
    planes of 32×32) and 'labels', plus batches.meta."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    train_images, train_labels = [], []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (3, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, 3).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({"batch_label": name, "data": data, "labels": labels, "filenames": ["x.png"] * 3}, f)
        if name == "test_batch":
            test = (data.reshape(-1, 3, 32, 32), labels)
        else:
            train_images.append(data.reshape(-1, 3, 32, 32))
            train_labels += labels
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)], "num_vis": 3072}, f)
    return {"train": (np.concatenate(train_images), train_labels), "test": test}


def test_cifar10_pickles_load_through_torchvision(tmp_path):
    written = write_cifar(tmp_path)
    dm = CIFAR10DataModule(root=str(tmp_path), verify=False, **COMMON)
    for split, n in (("train", 15), ("test", 3)):
        images, labels = dm.labelled(split)
        assert images.shape == (n, 3, 32, 32)
        assert torch.equal(images, torch.from_numpy(written[split][0]))
        assert labels.tolist() == written[split][1]
    grey = CIFAR10DataModule(root=str(tmp_path), verify=False, channels=1, resolution=16, **COMMON)
    rgb = torch.from_numpy(written["test"][0]).double()
    luma = (0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]).round()
    images = grey.labelled("test")[0]
    assert images.shape == (3, 1, 16, 16)
    full = CIFAR10DataModule(root=str(tmp_path), verify=False, channels=1, resolution=32, **COMMON)
    diff = (full.labelled("test")[0][:, 0].double() - luma).abs()
    assert diff.max() <= 1 and (diff == 0).double().mean() > 0.99  # float32 vs float64 rounding at .5


def test_cifar10_checksum_failure_is_not_called_missing(tmp_path):
    write_cifar(tmp_path)
    with pytest.raises(DatasetNotFoundError, match="fail torchvision's check.*dataset.verify=false"):
        CIFAR10DataModule(root=str(tmp_path), **COMMON).setup()
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DatasetNotFoundError, match="not downloaded; missing data_batch_3.*cifar.html"):
        CIFAR10DataModule(root=str(tmp_path), verify=False, **COMMON).setup()


# ---------------------------------------------------------------------------------------------- CelebA
def write_celeba(root: Path, partition: list[int]) -> list[tuple[int, int, int]]:
    """celeba/ as distributed: img_align_celeba/NNNNNN.jpg and the five annotation files (space
    separated; attr, bbox and landmarks have a count line and a header line)."""
    folder = root / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    names = [f"{i + 1:06d}.jpg" for i in range(len(partition))]
    colours = [(40 * i % 256, 255 - 30 * i % 256, 90) for i in range(len(partition))]
    for name, colour in zip(names, colours):
        Image.new("RGB", (178, 218), colour).save(folder / "img_align_celeba" / name, quality=95)
    (folder / "list_eval_partition.txt").write_text("".join(f"{n} {p}\n" for n, p in zip(names, partition)))
    (folder / "identity_CelebA.txt").write_text("".join(f"{n} {i + 1}\n" for i, n in enumerate(names)))
    attrs = [f"Attr{i}" for i in range(40)]
    (folder / "list_attr_celeba.txt").write_text(
        f"{len(names)}\n{' '.join(attrs)}\n" + "".join(f"{n} {' '.join(['-1', '1'] * 20)}\n" for n in names)
    )
    (folder / "list_bbox_celeba.txt").write_text(
        f"{len(names)}\nimage_id x_1 y_1 width height\n" + "".join(f"{n} 1 2 100 120\n" for n in names)
    )
    (folder / "list_landmarks_align_celeba.txt").write_text(
        f"{len(names)}\nlefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y "
        "rightmouth_x rightmouth_y\n" + "".join(f"{n} 69 109 106 113 77 142 73 152 108 154\n" for n in names)
    )
    return colours


def test_celeba_files_load_through_torchvision(tmp_path):
    colours = write_celeba(tmp_path, [0, 0, 0, 1, 1, 2, 2])  # (torchvision fails on a split of one image)
    dm = CelebADataModule(root=str(tmp_path), verify=False, resolution=16, **COMMON)
    assert [len(dm.dataset(s)) for s in ("train", "valid", "test", "all")] == [3, 2, 2, 7]
    for i in range(3):
        x = dm.dataset("train")[i]
        assert x.shape == (3, 16, 16)
        pixel = ((x[:, 8, 8] + 1) * 127.5).round()
        assert torch.allclose(pixel, torch.tensor(colours[i], dtype=torch.float), atol=3)  # JPEG
    assert torch.allclose(
        ((dm.dataset("test")[0][:, 8, 8] + 1) * 127.5).round(), torch.tensor(colours[5]).float(), atol=3
    )


def test_celeba_missing_annotation_is_named(tmp_path):
    write_celeba(tmp_path, [0, 1])
    (tmp_path / "celeba" / "list_eval_partition.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"missing list_eval_partition.txt.*celeba"):
        CelebADataModule(root=str(tmp_path), verify=False, **COMMON).setup()


# ---------------------------------------------------------------------------------------------- folder
def write_folder(root: Path) -> list[Path]:
    (root / "a" / "b").mkdir(parents=True)
    good = []
    for i, (sub, ext) in enumerate([("", "png"), ("a", "jpg"), ("a/b", "png"), ("a/b", "bmp"), ("a", "PNG")]):
        path = root / sub / f"img{i}.{ext}"
        Image.new("RGB", (40 + 10 * i, 30), (10 * i, 100, 200)).save(path)
        good.append(path)
    (root / "notes.txt").write_text("not an image")
    return good


def test_folder_finds_images_recursively_and_crops(tmp_path):
    good = write_folder(tmp_path)
    dm = FolderDataModule(root=str(tmp_path), resolution=8, on_corrupt="error", **COMMON)
    assert sorted(dm.files()) == sorted(good)
    for k, path in enumerate(dm.files()):
        i = int(path.stem[3:])
        x = dm.dataset("all")[k]
        assert x.shape == (3, 8, 8)  # shorter side (30 px) resized to 8, then the centre cropped
        expected = torch.tensor([10.0 * i, 100, 200]).view(3, 1, 1).expand(3, 8, 8)
        assert torch.allclose(((x + 1) * 127.5).round(), expected, atol=0 if path.suffix != ".jpg" else 3)


def test_folder_reports_corrupt_files_up_front(tmp_path, caplog):
    good = write_folder(tmp_path)
    (tmp_path / "a" / "garbage.png").write_bytes(b"this is not a png")
    data = good[1].read_bytes()
    (tmp_path / "a" / "b" / "truncated.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError) as err:
        FolderDataModule(root=str(tmp_path), resolution=8, on_corrupt="error", **COMMON).setup()
    msg = str(err.value)
    assert msg.startswith("2 of 7 image files") and "garbage.png" in msg and "truncated.jpg" in msg
    assert "dataset.on_corrupt=skip" in msg
    dm = FolderDataModule(root=str(tmp_path), resolution=8, **COMMON)
    with caplog.at_level("WARNING", logger="ganbench"):
        dm.setup()
    assert len(dm.dataset("all")) == 5 and len(dm.skipped) == 2
    assert "skipping 2 of 7 image files" in caplog.text and "truncated.jpg" in caplog.text


def test_folder_missing_or_empty(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=f"image folder not found at {tmp_path / 'none'}.*dataset.root"):
        FolderDataModule(root=str(tmp_path / "none"), **COMMON).setup()
    with pytest.raises(DatasetNotFoundError, match="any image file not found"):
        FolderDataModule(root=str(tmp_path), **COMMON).setup()


# ---------------------------------------------------------------------------------------------- sampler
def test_sampler_passes_are_permutations_and_ranks_are_disjoint():
    n, batch, iters = 10, 4, 5
    single = IterationSampler(n, 2 * iters, batch, seed=3)
    stream = list(single)
    assert len(stream) == len(single) == 2 * iters * batch
    for p in range(len(stream) // n):  # every complete pass sees each item once
        assert sorted(stream[p * n : (p + 1) * n]) == list(range(n))
    ranks = [list(IterationSampler(n, iters, batch, seed=3, num_replicas=2, rank=r)) for r in range(2)]
    # batch k of the global stream goes to rank k mod 2
    for it in range(iters):
        for r in range(2):
            assert ranks[r][it * batch : (it + 1) * batch] == stream[(2 * it + r) * batch : (2 * it + r + 1) * batch]


def test_sampler_resumes_the_same_stream():
    full = list(IterationSampler(13, 8, 5, seed=1))
    rest = list(IterationSampler(13, 8, 5, seed=1, start_iteration=3))
    assert rest[: 5 * 5] == full[3 * 5 :]


def test_datamodule_shards_per_rank_and_restores_its_position():
    common = {"resolution": 8, "batch_size": 8, "n_critic": 2, "iterations": 6, "seed": 5}

    def batches(world: int, rank: int, state: dict | None = None) -> list[torch.Tensor]:
        dm = DigitsDataModule(**common)
        dm.trainer = SimpleNamespace(global_rank=rank, world_size=world, global_step=0)
        if state is not None:
            dm.load_state_dict(state)
        dm.setup()
        return list(dm.train_dataloader())

    single = batches(1, 0)
    assert len(single) == 6 and single[0].shape == (16, 1, 8, 8)
    two = [batches(2, r) for r in range(2)]
    ext = DigitsDataModule(**{**common, "iterations": 12})
    ext.setup()
    stream = list(ext.train_dataloader())
    for it in range(6):
        assert torch.equal(two[0][it], stream[2 * it]) and torch.equal(two[1][it], stream[2 * it + 1])
    # what a checkpoint at iteration 4 stores (global_step counts n_critic + 1 optimizer steps per iteration)
    dm = DigitsDataModule(**common)
    dm.trainer = SimpleNamespace(global_rank=0, world_size=1, global_step=4 * 3)
    state = dm.state_dict()
    assert state["iteration"] == 4
    resumed = batches(1, 0, state)
    assert all(torch.equal(a, b) for a, b in zip(resumed[:2], single[4:]))


# ---------------------------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    "dataset,expected", [("cifar10", 10000), ("mnist", 10000), ("celeba", 10000), ("digits", 2000), ("ring", 2500)]
)
def test_evaluator_num_samples_defaults_to_the_datasets_evaluator(dataset, expected):
    from ganbench.config import compose

    assert compose([f"dataset={dataset}"]).evaluator.num_samples == expected
    assert compose([f"dataset={dataset}", "evaluator.num_samples=123"]).evaluator.num_samples == 123
