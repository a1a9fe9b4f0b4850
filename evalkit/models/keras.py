"""``keras:<Application>``: ``keras.applications`` models with ``weights="imagenet"``.

Preprocessing: shorter side resized to ``input_size / 0.875`` (256 for 224), center crop to the
model's input size, bilinear, then that application's own ``preprocess_input`` (MobileNetV2:
scale to [-1, 1]). Weights come from ``--weights`` (a ``.weights.h5``/``.h5`` or ``.keras``
file) or Keras' cache ``$KERAS_HOME/models/`` (downloaded there when online).
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from evalkit._frameworks import import_tensorflow
from evalkit.errors import EvalkitError, MissingWeightsError
from evalkit.labels import LabelSpace
from evalkit.models._keras import KerasInference, tf_device
from evalkit.models.base import (
    Inference,
    ModelRequest,
    describe_model,
    did_you_mean,
    is_offline,
    weights_record,
)
from evalkit.models.keras_published import keras_published
from evalkit.preprocess import CROP_FRACTION, ImageTransform
from evalkit.results import ModelInfo, Weights


def _keras() -> Any:
    import_tensorflow()
    import keras

    return keras


def model_names() -> list[str]:
    apps = _keras().applications
    return sorted(n for n in dir(apps) if n[:1].isupper() and callable(getattr(apps, n)))


def _builder(name: str) -> Callable[..., Any]:
    names = model_names()
    if name not in names:
        lowered = {n.lower(): n for n in names}
        if name.lower() not in lowered:
            hint = did_you_mean(name, names, prefix="keras:")
            raise EvalkitError(
                f"unknown keras.applications model {name!r}; "
                f"{hint or 'see `evalkit models` for the list'}"
            )
        name = lowered[name.lower()]
    builder: Callable[..., Any] = getattr(_keras().applications, name)
    return builder


class _WeightsMissing(Exception):
    def __init__(self, expected: Path) -> None:
        self.expected = expected


@contextlib.contextmanager
def _watch_cache(found: list[Path]) -> Iterator[None]:
    """Record which cache file Keras' ``get_file`` uses; refuse downloads when offline."""
    from keras.src.utils import file_utils

    original = file_utils.get_file

    def get_file(fname: str | None = None, origin: str = "", *args: Any, **kwargs: Any) -> str:
        home = Path(_keras().src.backend.config.keras_home())
        subdir = kwargs.get("cache_subdir", "datasets")
        expected = home / subdir / (fname or Path(origin).name)
        found.append(expected)
        if not expected.is_file() and is_offline():
            raise _WeightsMissing(expected)
        try:
            path: str = original(fname, origin, *args, **kwargs)
        except Exception:  # Keras raises a bare Exception for a failed download
            raise _WeightsMissing(expected) from None
        return path

    file_utils.get_file = get_file
    try:
        yield
    finally:
        file_utils.get_file = original


def _build(
    model_id: str, builder: Callable[..., Any], weights_file: Path | None
) -> tuple[Any, Weights]:
    if weights_file is not None:
        if not weights_file.is_file():
            raise EvalkitError(f"weights file not found: {weights_file}")
        model = builder(weights=None)
        try:
            if weights_file.suffix == ".keras":
                model.set_weights(_keras().saving.load_model(weights_file).get_weights())
            else:
                model.load_weights(weights_file)
        except (ValueError, OSError) as error:
            raise EvalkitError(f"cannot load {weights_file} into {model_id}: {error}") from None
        return model, weights_record(weights_file, "file")
    found: list[Path] = []
    try:
        with _watch_cache(found):
            model = builder(weights="imagenet")
    except _WeightsMissing as missing:
        raise MissingWeightsError(
            f"weights for {model_id} not found at {missing.expected} and not downloadable here; "
            f"copy the file there, or pass --weights {model_id}=FILE (.weights.h5 or .keras)"
        ) from None
    except (ValueError, OSError) as error:
        where = found[-1] if found else "Keras' cache"
        raise EvalkitError(
            f"weights file {where} cannot be loaded into {model_id} ({error}); delete it or "
            f"pass --weights {model_id}=FILE"
        ) from None
    return model, weights_record(found[-1] if found else None, "cache", name="imagenet")


class KerasApplicationAdapter:
    framework = "keras"
    # mixed precision would rebuild the model's layers
    precisions: ClassVar[tuple[str, ...]] = ("fp32",)
    id_form = "keras:NAME (weights='imagenet')"
    model_names = staticmethod(model_names)

    @classmethod
    def weights_tags(cls, name: str) -> list[str]:
        return []  # one set of weights per application: weights="imagenet"

    @classmethod
    def weights_cache(cls) -> Path:
        """Where ``keras.applications`` keeps downloaded weights."""
        return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"

    @classmethod
    def save_untrained(cls, name: str, target: Path) -> None:
        """A weights file of the architecture with random values (for speed measurements)."""
        _builder(name)(weights=None).save_weights(target)

    def __init__(self, request: ModelRequest) -> None:
        if request.tag is not None:
            raise EvalkitError(f"{request.id}: keras.applications models take no @weights tag")
        builder = _builder(request.name)
        tf = import_tensorflow()
        self.id = request.id
        self.module = importlib.import_module(builder.__module__)
        execution = request.execution
        placement = tf_device(request.device, execution.threads)
        with tf.device(placement):
            model, self.weights_info = _build(request.id, builder, request.weights_file)
        self.inference: Inference = KerasInference(model, placement, "probabilities", execution)
        size = int(model.input_shape[1])
        self.transform = ImageTransform(
            crop=size, resize=round(size / CROP_FRACTION), divide_by=1.0, layout="NHWC"
        )
        self.labels = LabelSpace.imagenet1k()
        # keras.io's accuracy for the application's own ImageNet weights (not a local file's)
        imagenet = self.weights_info.name == "imagenet"
        self.published = keras_published(request.name) if imagenet else {}

    def preprocess(self, image: Image.Image) -> np.ndarray:
        return self.finish(self.transform(image))

    def finish(self, pixels: np.ndarray) -> np.ndarray:
        """The application's ``preprocess_input`` on the transform's 0-255 pixels."""
        array: np.ndarray = self.module.preprocess_input(pixels)
        return array

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return self.inference.predict(batch)

    def describe(self) -> ModelInfo:
        preprocessing = self.transform.describe()
        preprocessing["then"] = self.module.__name__.replace(".src.", ".") + ".preprocess_input"
        probe = np.array([[[0.0, 0.0, 0.0], [255.0, 255.0, 255.0]]], dtype=np.float32)
        low, high = self.module.preprocess_input(probe)[0].tolist()
        preprocessing["then_maps"] = {"0": low, "255": high}
        return describe_model(
            self,
            self.weights_info,
            preprocessing,
            params=self.inference.parameter_count(),
            published_metrics=self.published,
        )

    def runtime(self) -> dict[str, Any]:
        return self.inference.runtime()
