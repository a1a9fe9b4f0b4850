"""What the Keras adapters share: device placement and a compiled inference function."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from evalkit._frameworks import import_tensorflow
from evalkit.errors import EvalkitError
from evalkit.models._torch import DEVICES


def tf_device(device: str) -> str:
    """The TensorFlow device string for ``auto|cpu|cuda`` (GPUs use memory growth)."""
    tf = import_tensorflow()
    if device not in DEVICES:
        raise EvalkitError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    gpus = tf.config.list_physical_devices("GPU")  # probed quietly at import
    for gpu in gpus:
        # raises once the GPU is initialised: the setting only applies before first use
        with contextlib.suppress(RuntimeError):
            tf.config.experimental.set_memory_growth(gpu, True)
    if device == "cuda" and not gpus:
        raise EvalkitError("--device cuda was asked for but TensorFlow sees no GPU; use cpu/auto")
    return "/GPU:0" if gpus and device != "cpu" else "/CPU:0"


class KerasInference:
    """A Keras model behind one ``tf.function`` with a fixed input signature (no retracing)."""

    def __init__(self, model: Any, device: str, outputs: str = "probabilities") -> None:
        tf = self.tf = import_tensorflow()
        self.device = device
        self.model = model
        self.outputs = outputs
        spec = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)
        self._forward = tf.function(lambda x: model(x, training=False), input_signature=[spec])

    def predict(self, batch: np.ndarray) -> np.ndarray:
        with self.tf.device(self.device):
            scores = self._forward(self.tf.constant(batch))
            if self.outputs == "logits":
                scores = self.tf.nn.softmax(scores, axis=1)
            result: np.ndarray = scores.numpy()  # materialised on the host: work has finished
        return result

    def runtime(self) -> dict[str, Any]:
        tf = self.tf
        import keras

        info: dict[str, Any] = {
            "device": "cuda" if self.device.startswith("/GPU") else "cpu",
            "tf_device": self.device,
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        }
        if self.device.startswith("/GPU"):
            info["peak_device_memory_mb"] = (
                tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
            )
        return info
