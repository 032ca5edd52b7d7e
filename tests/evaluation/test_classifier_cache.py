"""The cached domain classifier is used only when it was built from the same data, recipe and code;
otherwise it is rebuilt, never used."""

from __future__ import annotations

import json

import torch

from ganbench.evaluation import domain
from ganbench.evaluation.domain import DomainExtractor

TRAIN = {"epochs": 1, "width": 4, "num_features": 8}


class TinyLabelled:
    """Labelled 8×8 images: class k is a bright row k (a small, learnable stand-in for the digits)."""

    name = "tiny"
    num_classes = 4

    def __init__(self, flip: bool = False) -> None:
        labels = torch.arange(80) % self.num_classes
        images = torch.zeros(80, 1, 8, 8, dtype=torch.uint8)
        for i, k in enumerate(labels):
            images[i, 0, int(k) * 2] = 255
        if flip:  # other data under the same name and identity
            images[0, 0, 7, 7] = 128
        self.images, self.labels = images, labels

    def identity(self) -> dict:
        return {"name": self.name}

    def labelled(self, split: str):
        return self.images, self.labels


def cached_files(tmp_path):
    return sorted(tmp_path.glob("classifier_*.pt"))


def test_a_classifier_built_for_other_weights_is_rebuilt_not_used(tmp_path):
    fresh = DomainExtractor(TinyLabelled(), "train", tmp_path, **TRAIN)
    (path,) = cached_files(tmp_path)
    # the same file name, other weights (an older recipe, another machine): no matching fingerprint
    payload = torch.load(path, weights_only=True)
    tampered = {k: torch.randn_like(v) if v.is_floating_point() else v for k, v in payload["state_dict"].items()}
    torch.save({"state_dict": tampered, "accuracy": 0.5}, path)
    again = DomainExtractor(TinyLabelled(), "train", tmp_path, **TRAIN)
    for key, value in fresh.net.state_dict().items():
        assert torch.equal(again.net.state_dict()[key], value), key
    assert json.loads(torch.load(path, weights_only=True)["key"])["code"]  # the fingerprint is stored again


def test_the_key_covers_the_data_and_the_code(tmp_path, monkeypatch):
    DomainExtractor(TinyLabelled(), "train", tmp_path, **TRAIN)
    DomainExtractor(TinyLabelled(flip=True), "train", tmp_path, **TRAIN)  # one pixel differs
    assert len(cached_files(tmp_path)) == 2
    source = domain._recipe_source()
    monkeypatch.setattr(domain, "_recipe_source", lambda: source + "# changed\n")
    DomainExtractor(TinyLabelled(), "train", tmp_path, **TRAIN)
    assert len(cached_files(tmp_path)) == 3


def test_a_matching_classifier_is_loaded_without_training(tmp_path, monkeypatch):
    source = domain._recipe_source()
    monkeypatch.setattr(domain, "_recipe_source", lambda: source)  # the stand-in below is not a new recipe
    DomainExtractor(TinyLabelled(), "train", tmp_path, **TRAIN)

    def no_training(*args, **kwargs):
        raise AssertionError("trained again although the cache matched")

    monkeypatch.setattr(domain, "train_classifier", no_training)
    DomainExtractor(TinyLabelled(), "train", tmp_path, **TRAIN)


def test_first_use_training_reports_each_epoch(tmp_path, caplog):
    with caplog.at_level("INFO", logger="ganbench"):
        DomainExtractor(TinyLabelled(), "train", tmp_path, epochs=2, width=4, num_features=8)
    messages = [r.getMessage() for r in caplog.records]
    assert any("training the tiny domain classifier" in m for m in messages)
    assert [m for m in messages if "epoch" in m] == [
        "tiny domain classifier: epoch 1/2",
        "tiny domain classifier: epoch 2/2",
    ]
