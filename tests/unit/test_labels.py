from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.errors import EvalkitError
from evalkit.labels import LabelSpace, load_class_map, map_labels


def test_imagenet_space_is_complete_and_offline() -> None:
    space = LabelSpace.imagenet1k()
    assert space.num_classes == space.num_outputs == 1000
    assert space.keys[0] == "n01440764" and space.keys[999] == "n15075141"
    assert len(set(space.keys)) == 1000
    assert space.names[1].startswith("goldfish")


@pytest.mark.parametrize(
    "label",
    [
        "n01443537",
        "1",
        "goldfish",
        "Carassius auratus",
        "goldfish, Carassius auratus",
        " GOLDFISH ",
    ],
)
def test_resolve_any_spelling_of_a_class(label: str) -> None:
    assert LabelSpace.imagenet1k().resolve(label) == 1


def test_ambiguous_and_unknown_names_resolve_to_nothing() -> None:
    space = LabelSpace.imagenet1k()
    assert space.resolve("crane") is None  # two ImageNet classes are called "crane"
    assert space.resolve("not a class") is None
    assert space.resolve("1000") is None


def test_background_offset_for_1001_output_models() -> None:
    space = LabelSpace.imagenet1k(background=True)
    assert space.num_outputs == 1001
    assert space.resolve("n01440764") == 1
    assert space.name_of(0) == "background" and space.name_of(1).startswith("tench")


def test_custom_space_maps_names() -> None:
    space = LabelSpace.from_names(["cat", "dog"])
    assert map_labels(["dog", "cat"], space) == [1, 0]
    assert space.resolve("1") is None  # indices are only accepted for ImageNet


def test_unmappable_labels_are_listed() -> None:
    with pytest.raises(EvalkitError) as error:
        map_labels(["n01440764", "unicorn", "dragon"], LabelSpace.imagenet1k())
    message = str(error.value)
    assert "'unicorn'" in message and "'dragon'" in message and "--class-map" in message
    assert "\n" not in message


def test_class_map_file(tmp_path: Path) -> None:
    path = tmp_path / "map.csv"
    path.write_text("dataset_label,model_label\nfish,n01440764\nflower,daisy\n")
    mapping = load_class_map(path)
    assert mapping == {"fish": "n01440764", "flower": "daisy"}
    assert map_labels(["fish", "flower"], LabelSpace.imagenet1k(), mapping) == [0, 985]
    with pytest.raises(EvalkitError, match="not found"):
        load_class_map(tmp_path / "missing.csv")
