"""``evalkit export MODEL --to onnx|openvino|tflite [--int8 --calibrate DATA] --out FILE``.

A torch model becomes an ONNX file (torch.export's ONNX exporter, dynamic batch; or int8,
statically quantized by ONNX Runtime on a calibration subset of DATA) or an OpenVINO IR
(converted from that file, weights kept in f32); a Keras model becomes a TFLite flatbuffer,
float or post-training full-integer int8 quantized on a calibration subset of DATA. The
exported file carries the model's card (preprocessing, classes, output kind) in its own
metadata, so ``onnx:FILE``, ``openvino:FILE`` and ``tflite:FILE`` evaluate it with the
source model's preprocessing. Then the exported file is opened the way ``evalkit run`` opens it
and compared with the source model on probe photographs (and the calibration images):
top-1 agreement and max |Δp| are reported and returned.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evalkit.atomic import write_atomic
from evalkit.errors import EvalkitError
from evalkit.models.base import ModelAdapter
from evalkit.models.cards import IMAGENET_SPACES, METADATA_KEY, ModelCard
from evalkit.options import EvalOptions
from evalkit.preprocess import PRESETS, ImageTransform

TARGETS = {"torch": ("onnx", "openvino"), "keras": ("tflite",)}
SCHEME = {"onnx": "onnx", "openvino": "openvino", "tflite": "tflite"}
SUFFIX = {"onnx": ".onnx", "openvino": ".xml", "tflite": ".tflite"}
CALIBRATION_IMAGES = 200


@dataclass
class ExportResult:
    source: str
    target: str
    path: Path
    int8: bool
    seconds: float
    card: dict[str, Any]
    agreement: dict[str, Any] = field(default_factory=dict)
    calibration_images: int = 0

    @property
    def model_id(self) -> str:
        return f"{SCHEME[self.target]}:{self.path}"


def export_model(
    model: str,
    to: str,
    out: Path,
    *,
    options: EvalOptions | None = None,
    int8: bool = False,
    calibrate: Path | None = None,
    calibration_images: int = CALIBRATION_IMAGES,
) -> ExportResult:
    """Export ``model`` to ``out`` in format ``to`` and check it against the source model."""
    from evalkit.registry import load_model

    options = (options or EvalOptions()).replace(device="cpu", runtime="eager")
    out = Path(out).expanduser()
    _check_request(to, out, int8, calibrate)
    adapter = load_model(model, options)
    allowed = TARGETS.get(adapter.framework, ())
    if to not in allowed:
        raise EvalkitError(
            f"{model} is a {adapter.framework} model; it exports to "
            f"{', '.join(allowed) or 'nothing yet'} (torch: onnx, openvino; Keras: tflite)"
        )
    card = card_of(adapter)
    calibration = _calibration(adapter, calibrate, calibration_images) if calibrate else None
    started = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    WRITERS[to](adapter, card, out, calibration if int8 else None)
    result = ExportResult(
        model,
        to,
        out,
        int8,
        time.perf_counter() - started,
        card.to_json(),
        calibration_images=0 if calibration is None else len(calibration),
    )
    result.agreement = _agreement(adapter, result, options, calibration)
    return result


def _check_request(to: str, out: Path, int8: bool, calibrate: Path | None) -> None:
    if to not in SUFFIX:
        raise EvalkitError(f"unknown export format {to!r}; choose one of {', '.join(SUFFIX)}")
    if out.suffix.lower() != SUFFIX[to]:
        raise EvalkitError(f"--to {to} writes a {SUFFIX[to]} file; got --out {out}")
    if int8 and to == "openvino":
        raise EvalkitError(
            "--int8 is built for --to onnx (ONNX Runtime static quantization) and --to tflite; "
            "OpenVINO int8 (NNCF) is not; quantize to ONNX and run it with openvino:FILE.onnx"
        )
    if int8 and calibrate is None:
        raise EvalkitError("--int8 needs --calibrate DATA: images whose value ranges it measures")


def card_of(adapter: ModelAdapter) -> ModelCard:
    """The adapter's preprocessing, classes and output kind as a card, checked to reproduce
    the adapter's own preprocessing on real photographs."""
    transform = _transform_of(adapter)
    from evalkit.tuning import probe_images

    for image in probe_images(4):
        if not np.allclose(transform(image), adapter.preprocess(image), atol=1e-4):
            raise EvalkitError(
                f"{adapter.id}: its preprocessing cannot be written as a card (resize, crop, "
                "scale, mean/std); it cannot be exported with its preprocessing"
            )
    labels = adapter.labels
    classes: tuple[str, ...] | str
    if labels.name == "imagenet-1k":
        classes = "imagenet-1k+background" if labels.offset else "imagenet-1k"
    else:
        classes = labels.keys
    assert not isinstance(classes, str) or classes in IMAGENET_SPACES
    outputs = str(getattr(adapter.inference, "outputs", "logits"))
    return ModelCard(classes, transform, outputs, f"exported from {adapter.id}")


def _transform_of(adapter: ModelAdapter) -> ImageTransform:
    card = getattr(adapter, "card", None)
    if card is not None:
        return card.transform
    transform = getattr(adapter, "transform", None)
    if not isinstance(transform, ImageTransform):
        raise EvalkitError(f"{adapter.id}: its adapter does not spell out its preprocessing")
    module = getattr(adapter, "module", None)  # Keras applications: then preprocess_input
    if module is not None and hasattr(module, "preprocess_input"):
        return keras_equivalent(transform, module.preprocess_input)
    return transform


def keras_equivalent(
    geometry: ImageTransform, preprocess_input: Callable[..., Any]
) -> ImageTransform:
    """``geometry`` (pixels in [0,255]) followed by a Keras ``preprocess_input`` as one
    transform: a preset when one matches, else the measured per-channel affine map."""
    probe = np.array([[[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]]], dtype=np.float32)
    mapped = np.asarray(preprocess_input(probe.copy()), dtype=np.float64)[0]
    base, gains = mapped[0], mapped[1:] - mapped[0]  # gains[i][j]: input i -> output j
    channels = "BGR" if abs(gains[0][2]) > abs(gains[0][0]) else "RGB"
    order = [2, 1, 0] if channels == "BGR" else [0, 1, 2]
    scale = np.array([gains[order[j]][j] for j in range(3)]) / 255.0
    for preset in PRESETS.values():
        candidate = _replace_scale(geometry, preset)
        if candidate.channels == channels and np.allclose(
            _affine(candidate), (scale, base), atol=1e-5
        ):
            return candidate
    mean = tuple(float(v) for v in -base / scale)
    std = tuple(float(v) for v in 1.0 / scale)
    return _replace_scale(
        geometry, {"divide_by": 1.0, "mean": mean, "std": std, "channels": channels}
    )


def _replace_scale(geometry: ImageTransform, preset: dict[str, Any]) -> ImageTransform:
    from dataclasses import replace

    fields = {k: v for k, v in preset.items() if k != "about"}
    fields.setdefault("mean", (0.0, 0.0, 0.0))
    fields.setdefault("std", (1.0, 1.0, 1.0))
    fields.setdefault("channels", "RGB")
    return replace(geometry, **fields)


def _affine(transform: ImageTransform) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (gain per pixel unit, offset) of a transform's pixel mapping."""
    std = np.asarray(transform.std, dtype=np.float64)
    return 1.0 / (transform.divide_by * std), -np.asarray(transform.mean, dtype=np.float64) / std


def _calibration(adapter: ModelAdapter, data: Path, count: int) -> np.ndarray:
    """``count`` preprocessed images of ``data``, stratified by class (seeded)."""
    from evalkit.data.datasets import load_dataset, subset
    from evalkit.data.decode import DecodeError, decode_image

    dataset = load_dataset(data)
    per_class = max(1, math.ceil(count / max(1, len(dataset.classes))))
    chosen = subset(dataset, per_class=per_class, seed=0).samples[:count]
    arrays = []
    for sample in chosen:
        try:
            arrays.append(adapter.preprocess(decode_image(Path(sample.path).read_bytes())))
        except (DecodeError, OSError):
            continue
    if not arrays:
        raise EvalkitError(f"--calibrate {data}: no readable images")
    return np.stack(arrays)


def _onnx_proto(adapter: ModelAdapter, card: ModelCard, folder: Path) -> Any:
    """The torch model exported to ONNX with the card in ``metadata_props``."""
    from evalkit.models.runtimes import export_onnx
    from evalkit.models.sessions import require
    from evalkit.tuning import probe_batch

    onnx = require("onnx", "onnxruntime")
    staged = folder / "model.onnx"
    export_onnx(adapter.inference, probe_batch(adapter, 2), staged)
    proto = onnx.load(str(staged))
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(card.to_json(), sort_keys=True)
    return proto


def write_onnx(
    adapter: ModelAdapter, card: ModelCard, out: Path, calibration: np.ndarray | None
) -> None:
    """Float ONNX, or int8 (static QDQ quantization by ONNX Runtime, per-channel weights,
    calibrated) with ``calibration``."""
    import onnx

    with tempfile.TemporaryDirectory(prefix="evalkit-export-") as tmp:
        proto = _onnx_proto(adapter, card, Path(tmp))
        if calibration is not None:
            proto = _quantized_onnx(proto, calibration, Path(tmp))
        write_atomic(out, lambda target: onnx.save(proto, str(target)))


def _quantized_onnx(proto: Any, calibration: np.ndarray, folder: Path) -> Any:
    """``proto`` statically quantized to int8 (QDQ, MinMax calibration on ``calibration``);
    its metadata (the card) carried over."""
    import onnx
    from onnxruntime import quantization

    class Reader(quantization.CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(calibration[i : i + 1] for i in range(len(calibration)))

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.batches, None)
            return None if batch is None else {"images": batch.astype(np.float32)}

    source, target = folder / "float.onnx", folder / "int8.onnx"
    onnx.save(proto, str(source))
    with _quiet():
        quantization.quantize_static(
            str(source),
            str(target),
            Reader(),
            per_channel=True,
            calibrate_method=quantization.CalibrationMethod.MinMax,
        )
    quantized = onnx.load(str(target))
    del quantized.metadata_props[:]
    quantized.metadata_props.extend(proto.metadata_props)
    return quantized


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    import logging
    import warnings

    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def write_openvino(adapter: ModelAdapter, card: ModelCard, out: Path, _: Any) -> None:
    """OpenVINO IR (``.xml`` + ``.bin``), f32 weights, the card in ``rt_info``."""
    import onnx

    from evalkit.models.sessions import require

    ov = require("openvino", "openvino")
    with tempfile.TemporaryDirectory(prefix="evalkit-export-", dir=out.parent) as tmp:
        onnx_path = Path(tmp) / "model.onnx"
        onnx.save(_onnx_proto(adapter, card, Path(tmp)), str(onnx_path))
        converted = ov.convert_model(str(onnx_path))
        converted.set_rt_info(json.dumps(card.to_json(), sort_keys=True), METADATA_KEY)
        staged = Path(tmp) / out.name
        ov.save_model(converted, str(staged), compress_to_fp16=False)
        shutil.move(staged.with_suffix(".bin"), out.with_suffix(".bin"))
        staged.replace(out)  # the .xml last: it names the .bin beside it


def write_tflite(
    adapter: ModelAdapter, card: ModelCard, out: Path, calibration: np.ndarray | None
) -> None:
    """Float (Keras' LiteRT export) or full-integer int8 (TFLite converter, calibrated)."""
    from evalkit.models import tflite_metadata
    from evalkit.models._keras import export_tflite, quantized_tflite

    with tempfile.TemporaryDirectory(prefix="evalkit-export-") as tmp:
        staged = Path(tmp) / "model.tflite"
        if calibration is None:
            export_tflite(adapter.inference, staged)  # type: ignore[arg-type]
        else:
            staged.write_bytes(quantized_tflite(adapter.inference, calibration))  # type: ignore[arg-type]
        transform = card.transform
        entries = {METADATA_KEY: tflite_metadata.card_entry(card.to_json())}
        mean, std = _affine_pixels(transform)
        if transform.channels == "RGB":
            entries[tflite_metadata.STANDARD] = tflite_metadata.standard_metadata(
                adapter.id, mean, std, transform.crop
            )
        data = tflite_metadata.add_entries(staged.read_bytes(), entries)
    write_atomic(out, lambda target: target.write_bytes(data))


def _affine_pixels(transform: ImageTransform) -> tuple[list[float], list[float]]:
    """The transform as TFLite's ``(pixel - mean) / std`` in pixel units."""
    scale = transform.divide_by
    mean = [m * scale for m in transform.mean]
    std = [s * scale for s in transform.std]
    return mean, std


WRITERS: dict[str, Callable[[ModelAdapter, ModelCard, Path, Any], None]] = {
    "onnx": write_onnx,
    "openvino": write_openvino,
    "tflite": write_tflite,
}


def _agreement(
    adapter: ModelAdapter,
    result: ExportResult,
    options: EvalOptions,
    calibration: np.ndarray | None,
) -> dict[str, Any]:
    """The exported file, opened as ``evalkit run`` opens it, against the source model."""
    from evalkit.registry import load_model
    from evalkit.tuning import agreement, probe_batch

    exported = load_model(result.model_id, options.replace(preprocess=()))
    extra = [] if calibration is None else [calibration]
    reference = [probe_batch(adapter, 8), *extra]
    candidate = [probe_batch(exported, 8), *extra]  # through the card the file carries
    return agreement(
        np.concatenate([adapter.predict(b) for b in _chunks(reference)]),
        np.concatenate([exported.predict(b) for b in _chunks(candidate)]),
    )


def _chunks(batches: list[np.ndarray], size: int = 32) -> Iterator[np.ndarray]:
    for batch in batches:
        for start in range(0, len(batch), size):
            yield batch[start : start + size]
