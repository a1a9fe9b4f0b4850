"""What the Keras adapters share: device placement and a compiled inference function."""

from __future__ import annotations

import contextlib
import io
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from evalkit._frameworks import import_tensorflow, quiet_native_stderr
from evalkit.atomic import write_atomic
from evalkit.errors import EvalkitError
from evalkit.models.base import Execution, choose_device


def tf_device(device: str, threads: int | None = None) -> str:
    """The TensorFlow device string for ``auto|cpu|cuda`` (GPUs use memory growth).

    ``threads`` sets TF's intra- and inter-op thread pools; TF accepts that only before its
    runtime starts, so a later different request is an error rather than silently ignored.
    """
    tf = import_tensorflow()
    if threads:
        _set_threads(tf, threads)
    gpus = tf.config.list_physical_devices("GPU")  # probed quietly at import
    chosen = choose_device(device, bool(gpus), "TensorFlow")
    for gpu in gpus:
        # raises once the GPU is initialised: the setting only applies before first use
        with contextlib.suppress(RuntimeError):
            tf.config.experimental.set_memory_growth(gpu, True)
    return "/GPU:0" if chosen == "cuda" else "/CPU:0"


def _set_threads(tf: Any, threads: int) -> None:
    threading = tf.config.threading
    try:
        threading.set_intra_op_parallelism_threads(threads)
        threading.set_inter_op_parallelism_threads(min(threads, 2))
    except RuntimeError:
        if threading.get_intra_op_parallelism_threads() != threads:
            raise EvalkitError(
                f"TensorFlow already started with other thread settings; set threads={threads} "
                "before the first Keras model is loaded in this process"
            ) from None


class KerasInference:
    """A Keras model behind one ``tf.function`` with a fixed input signature (no retracing)."""

    def __init__(
        self,
        model: Any,
        device: str,
        outputs: str = "probabilities",
        execution: Execution | None = None,
    ) -> None:
        tf = self.tf = import_tensorflow()
        self.execution = execution or Execution()
        self.device = device
        self.model = model
        self.outputs = outputs
        self.agreement: dict[str, Any] = {}
        spec = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)
        self._forward = tf.function(lambda x: model(x, training=False), input_signature=[spec])

    def parameter_count(self) -> int:
        return int(self.model.count_params())

    def use_channels_last(self, enabled: bool) -> bool:
        """Keras models are NHWC already: no layout choice."""
        return False

    def to_device(self, batch: np.ndarray) -> Any:
        with self.tf.device(self.device):
            return self.tf.constant(batch)

    def forward(self, inputs: Any) -> Any:
        """The bare compiled model call (what a raw-forward benchmark times)."""
        with self.tf.device(self.device):
            return self._forward(inputs)

    def to_host(self, outputs: Any) -> np.ndarray:
        host: np.ndarray = outputs.numpy()
        return host

    def reset(self) -> None:
        """Forget the previous run's peak device memory."""
        if self.device.startswith("/GPU"):
            self.tf.config.experimental.reset_memory_stats("GPU:0")

    def device_stages(self) -> dict[str, float]:
        return {}  # TensorFlow has no cheap per-batch device events

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
            "precision": "fp32",
            "channels_last": "native (NHWC)",
            "runtime": "eager",
        }
        if self.device.startswith("/GPU"):
            info["peak_device_memory_mb"] = (
                tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
            )
        return info


def export_tflite(eager: KerasInference, target: Path) -> None:
    """The Keras model as a float32 LiteRT (TFLite) flatbuffer with a dynamic batch dimension
    (Keras' own ``export(format="litert")``), written atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)

    def write(tmp: Path) -> None:
        staged = tmp.with_name(tmp.stem + "-staged.tflite")  # Keras wants the suffix
        try:
            with quiet_native_stderr(), contextlib.redirect_stdout(io.StringIO()):
                eager.model.export(str(staged), format="litert", verbose=False)
            staged.replace(tmp)
        finally:
            staged.unlink(missing_ok=True)

    write_atomic(target, write)


def quantized_tflite(eager: KerasInference, calibration: np.ndarray) -> bytes:
    """The Keras model as a full-integer int8 TFLite model (int8 input and output),
    post-training quantized with ``calibration`` (preprocessed images) as the representative
    dataset."""
    tf = eager.tf

    def representative() -> Iterator[list[np.ndarray]]:
        for image in calibration:
            yield [image[None].astype(np.float32)]

    with (
        tempfile.TemporaryDirectory(prefix="evalkit-savedmodel-") as folder,
        quiet_native_stderr(),
        contextlib.redirect_stdout(io.StringIO()),
    ):
        eager.model.export(folder, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        try:
            data: bytes = converter.convert()
        except Exception as error:  # the converter raises ConverterError and others
            first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            raise EvalkitError(
                f"the TFLite converter cannot quantize this model: {first}"
            ) from None
    return data
