"""Model files with a model card: label spaces (incl. 1001 outputs), bad cards, bad inputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import evalkit
from evalkit._frameworks import import_torch
from evalkit.models.files import ModelCard
from evalkit.preprocess import ImageTransform
from helpers import make_imagefolder


def export_constant_model(
    path: Path,
    outputs: int,
    best: int,
    flat_inputs: int | None = None,
    classes: Any = "imagenet-1k+background",
) -> Path:
    """A model whose scores are highest at ``best`` whatever the image (optionally one that
    only accepts ``flat_inputs`` values per image)."""
    torch = import_torch()

    class Constant(torch.nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.scores = torch.nn.Parameter(torch.zeros(outputs))
            self.linear = torch.nn.Linear(flat_inputs or 1, 1)
            with torch.no_grad():
                self.scores[best] = 5.0

        def forward(self, x: Any) -> Any:
            if flat_inputs:
                x = self.linear(x.flatten(1))
            return self.scores.expand(x.shape[0], -1) + 0 * x.mean()

    batch = torch.export.Dim("batch")
    program = torch.export.export(
        Constant(), (torch.zeros(2, 3, 8, 8),), dynamic_shapes=({0: batch},)
    )
    torch.export.save(program, str(path))
    ModelCard(classes, ImageTransform(crop=8, resize=None)).save(path)
    return path


def test_background_class_offset(tmp_path: Path, photos: list[Image.Image]) -> None:
    data = make_imagefolder(tmp_path / "val", photos, labels=("n01440764", "goldfish"))
    model = export_constant_model(tmp_path / "m.pt2", 1001, best=1)  # output 1 = tench
    result = evalkit.evaluate(f"torch-export:{model}", data, batch_size=3)
    space = result.model.label_space
    assert (space.name, space.num_outputs, space.offset) == ("imagenet-1k", 1001, 1)
    assert result.predictions["target"].tolist() == [2, 2, 1, 1]  # goldfish sorts first
    assert result.predictions["predicted"].iloc[0].startswith("tench")
    assert result.top1 == 0.5
    assert [row.recall for row in result.metrics.per_class] == [0.0, 1.0]  # sorted labels
    assert result.class_outputs == [2, 1] and result.options is not None


def test_model_rejecting_its_inputs_is_a_clear_error(
    tmp_path: Path, photos: list[Image.Image]
) -> None:
    data = make_imagefolder(tmp_path / "val", photos, labels=("n01440764",))
    model = export_constant_model(tmp_path / "m.pt2", 1001, best=1, flat_inputs=3 * 8 * 8)
    card = json.loads(model.with_suffix(".evalkit.json").read_text())
    card["preprocessing"]["crop"] = 16  # the card disagrees with the model
    model.with_suffix(".evalkit.json").write_text(json.dumps(card))
    with pytest.raises(
        evalkit.EvalkitError, match=r"failed on a probe batch of shape \(\d+, 3, 16, 16\)"
    ):
        evalkit.evaluate(f"torch-export:{model}", data)


@pytest.mark.parametrize(
    "change,message",
    [
        ({"classes": "imagenet-21k"}, "classes must be"),
        ({"outputs": "scores"}, "outputs must be"),
        ({"preprocessing": {"crop": 8, "interpolation": "fancy"}}, "interpolation"),
        ({"preprocessing": None}, "invalid"),
    ],
)
def test_invalid_cards(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    model = export_constant_model(tmp_path / "m.pt2", 10, best=1, classes=list("abcdefghij"))
    card_file = model.with_suffix(".evalkit.json")
    card_file.write_text(json.dumps(json.loads(card_file.read_text()) | change))
    with pytest.raises(evalkit.EvalkitError, match=message):
        evalkit.load_model(f"torch-export:{model}", device="cpu")
    card_file.unlink()
    with pytest.raises(evalkit.EvalkitError, match="says nothing about its preprocessing"):
        evalkit.load_model(f"torch-export:{model}", device="cpu")
