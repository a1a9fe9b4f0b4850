"""EvalOptions: one place for every run option, its default, its validation and its identity."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from evalkit.cli import build_parser, run_options
from evalkit.errors import EvalkitError
from evalkit.options import EvalOptions
from evalkit.registry import load_model


def test_defaults_and_normalised_values() -> None:
    options = EvalOptions(weights={"b": Path("/w/b.pt"), "a": "/w/a.pt"}, class_map={"x": "y"})
    assert options.batch_size == "auto" and options.device == "auto" and options.precision == "fp32"
    assert options.weights == (("a", "/w/a.pt"), ("b", "/w/b.pt"))  # sorted pairs: hashable
    assert options.weights_files == {"a": "/w/a.pt", "b": "/w/b.pt"}
    assert options.label_map == {"x": "y"}
    assert EvalOptions(class_map="m.csv").label_map == Path("m.csv")
    assert hash(options) == hash(
        EvalOptions(weights={"a": "/w/a.pt", "b": "/w/b.pt"}, class_map={"x": "y"})
    )


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"batch_size": 0}, "batch size must be a positive number, got 0"),
        ({"limit": -1}, "--limit must be a positive number"),
        ({"per_class": 0}, "--per-class must be a positive number"),
        ({"precision": "int4"}, "unknown precision 'int4'; choose one of fp32, bf16, fp16"),
        ({"device": "tpu"}, "unknown device 'tpu'"),
        ({"format": "zip"}, "unknown data format 'zip'"),
        ({"threads": 0}, "threads must be a positive number"),
        ({"warmup": -1}, "warm-up batches must be 0 or more"),
        ({"batchsize": 8}, "unknown evaluation option 'batchsize'; did you mean 'batch_size'"),
    ],
)
def test_bad_values_are_one_clear_error(changes: dict[str, object], message: str) -> None:
    with pytest.raises(EvalkitError, match=message):
        EvalOptions().replace(**changes)


def test_identity_ignores_speed_and_verbosity_only() -> None:
    base = EvalOptions()
    for same in ({"workers": 8}, {"progress": True}, {"warmup": 3}):
        assert base.replace(**same).key() == base.key()
    for other in (
        {"batch_size": 8},
        {"per_class": 5},
        {"precision": "bf16"},
        {"weights": {"m": "f"}},
    ):
        assert base.replace(**other).key() != base.key()
    record = EvalOptions(labels_file=Path("/x/LOC.csv"), weights={"m": "f"}).record()
    assert record["labels_file"] == "/x/LOC.csv" and record["weights"] == {"m": "f"}
    assert set(record) == set(EvalOptions.names())
    for options in (EvalOptions(class_map={"x": "y"}, labels_file=Path("/l")), EvalOptions()):
        assert EvalOptions.from_record(options.record() | {"future": 1}) == options


def test_cli_builds_the_same_options_from_its_arguments() -> None:
    args = build_parser().parse_args(
        [
            "run",
            "--model",
            "m:x",
            "--data",
            "d",
            "--labels",
            "l.csv",
            "--per-class",
            "3",
            "--weights",
            "m:x=w.pt",
            "--precision",
            "bf16",
            "--batch-size",
            "8",
            "--out",
            "o",
            "--resume",
            "--no-cache",
            "--shard-size",
            "64",
            "--executor",
            "ray",
        ]
    )
    assert isinstance(args, argparse.Namespace)
    options = run_options(args)
    expected = EvalOptions(
        batch_size=8,
        labels_file=Path("l.csv"),
        per_class=3,
        weights={"m:x": "w.pt"},
        precision="bf16",
        progress=options.progress,
        out=Path("o"),
        resume=True,
        cache=False,
        shard_size=64,
        executor="ray",
    )
    assert options == expected
    assert options.key() == expected.replace(resume=False, cache=True, executor="local").key()
    defaults = run_options(build_parser().parse_args(["run", "--model", "m:x", "--data", "d"]))
    assert defaults == EvalOptions(progress=defaults.progress)  # one set of defaults


def test_unsupported_precision_is_refused_before_weights_are_read() -> None:
    """No weights are cached here: the precision error must come first, not a missing file."""
    with pytest.raises(EvalkitError, match="precision bf16 is not supported by keras models"):
        load_model("keras:MobileNetV2", precision="bf16")
    with pytest.raises(EvalkitError, match="precision fp16 is not supported by keras-file"):
        load_model("keras-file:/nonexistent/model.keras", precision="fp16")
