"""Model files opened by another runtime: ONNX Runtime, OpenVINO or the LiteRT interpreter.

Each opener returns a :class:`Session`: a function from a float32 batch (the float
preprocessing's output) to the model's raw output scores, what the file says about its input
(:class:`~evalkit.models.cards.ModelInput`), its metadata and the runtime's versions. Integer
(quantized) LiteRT inputs are quantized from the float batch with the model's own scale and
zero point, and integer outputs dequantized, so every session speaks float.
"""

from __future__ import annotations

import importlib
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evalkit._frameworks import quiet_native_stderr
from evalkit.allocator import tune_allocator
from evalkit.environment import package_version
from evalkit.errors import EvalkitError
from evalkit.models.cards import METADATA_KEY, ModelInput

INSTALL = {
    "onnxruntime": "pip install 'evalkit[onnx]'  (onnxruntime, onnx, onnxscript)",
    "openvino": "pip install 'evalkit[openvino]'  (openvino, onnx, onnxscript)",
    "litert": "pip install 'evalkit[tflite]'  (ai-edge-litert)",
}


@dataclass
class Session:
    run: Callable[[np.ndarray], np.ndarray]
    model_input: ModelInput
    info: dict[str, Any]
    metadata: dict[str, str] = field(default_factory=dict)
    parameters: int = 0
    device: str = "cpu"


def require(module: str, runtime: str) -> Any:
    """Import ``module`` or say which extra installs it (allocator tuned first)."""
    tune_allocator()
    try:
        return importlib.import_module(module)
    except ImportError:
        raise EvalkitError(f"{runtime} needs {module}: {INSTALL[runtime]}") from None


def model_input(shape: Sequence[Any], outputs: Sequence[Any]) -> ModelInput:
    """Layout, fixed square size and output count from static shapes (others are None/str)."""

    def fixed(dim: Any) -> int | None:
        return int(dim) if isinstance(dim, int | np.integer) and int(dim) > 0 else None

    dims = [fixed(d) for d in shape]
    if len(dims) != 4:
        raise EvalkitError(f"expected an image input (N, C, H, W) or (N, H, W, C), got {shape}")
    layout = "NHWC" if dims[3] == 3 and dims[1] != 3 else "NCHW"
    height, width = (dims[1], dims[2]) if layout == "NHWC" else (dims[2], dims[3])
    size = height if height is not None and height == width else None
    return ModelInput(layout, size, fixed(outputs[-1]) if outputs else None)


def _onnx_extras(path: Path) -> tuple[int, dict[str, str]]:
    """The parameter count (initializer sizes) and metadata_props, when onnx is installed."""
    try:
        import onnx
    except ImportError:
        return 0, {}
    proto = onnx.load(str(path), load_external_data=False)
    count = sum(int(np.prod(t.dims)) for t in proto.graph.initializer)
    return count, {p.key: p.value for p in proto.metadata_props}


def open_onnx(path: Path, threads: int, device: str = "cpu") -> Session:
    """An ONNX Runtime session; the CUDA provider when present and the device allows."""
    ort = require("onnxruntime", "onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    # idle threads sleep instead of spinning: the decode threads need those cores
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    cuda = device != "cpu" and "CUDAExecutionProvider" in ort.get_available_providers()
    if device == "cuda" and not cuda:
        raise EvalkitError("--device cuda: this onnxruntime has no CUDA execution provider")
    providers = (
        ["CUDAExecutionProvider", "CPUExecutionProvider"] if cuda else ["CPUExecutionProvider"]
    )
    try:
        session = ort.InferenceSession(str(path), options, providers=providers)
    except Exception as error:  # onnxruntime raises its own Fail/InvalidGraph types
        raise EvalkitError(f"cannot load ONNX model {path}: {str(error).splitlines()[0]}") from None
    first, output = session.get_inputs()[0], session.get_outputs()[0]
    dtype = np.float16 if first.type == "tensor(float16)" else np.float32

    def run(inputs: np.ndarray) -> np.ndarray:
        result: np.ndarray = session.run(None, {first.name: inputs.astype(dtype, copy=False)})[0]
        return result.astype(np.float32, copy=False)

    parameters = _onnx_extras(path)[0]
    metadata = dict(session.get_modelmeta().custom_metadata_map)  # the metadata_props
    info = {
        "onnxruntime": ort.__version__,
        "threads": threads,
        "providers": session.get_providers(),
    }
    return Session(
        run,
        model_input(first.shape, output.shape),
        info,
        metadata,
        parameters,
        "cuda" if cuda else "cpu",
    )


def open_openvino(path: Path, threads: int) -> Session:
    """An OpenVINO model (IR ``.xml`` or ``.onnx``) compiled for the CPU in f32, each batch
    split across its streams."""
    ov = require("openvino", "openvino")
    core = ov.Core()
    try:
        with quiet_native_stderr():  # a bad file is tried by every frontend, TF's logs
            model = core.read_model(str(path))
    except Exception as error:  # OpenVINO raises RuntimeError with a long trace
        raise EvalkitError(f"cannot read OpenVINO model {path}: {_reason(error)}") from None
    metadata = {}
    if model.has_rt_info(METADATA_KEY):
        metadata[METADATA_KEY] = model.get_rt_info(METADATA_KEY).astype(str)
    elif path.suffix.lower() == ".onnx":
        metadata = _onnx_extras(path)[1]
    shape = list(model.inputs[0].get_partial_shape())
    dims = [d.get_length() if d.is_static else None for d in shape]
    out = [d.get_length() if d.is_static else None for d in model.outputs[0].get_partial_shape()]
    parameters = sum(
        int(np.prod(op.get_output_shape(0)))
        for op in model.get_ops()
        if op.get_type_name() == "Constant" and op.get_output_element_type(0).is_real()
    )
    config = {
        # f32, not the bf16 OpenVINO picks on CPUs that have it (|Δp| ~3e-3 against eager)
        "INFERENCE_PRECISION_HINT": "f32",
        "PERFORMANCE_HINT": "THROUGHPUT",
        "INFERENCE_NUM_THREADS": threads,
    }
    compiled = core.compile_model(model, "CPU", config)
    streams = max(1, int(compiled.get_property("NUM_STREAMS")))
    requests = [compiled.create_infer_request() for _ in range(streams)]

    def run(inputs: np.ndarray) -> np.ndarray:
        """The batch split across the streams, run at once (one request alone uses one)."""
        parts = np.array_split(inputs, min(streams, len(inputs)))
        for request, part in zip(requests, parts, strict=False):
            request.start_async({0: part})
        outputs = []
        for request in requests[: len(parts)]:
            request.wait()
            outputs.append(request.get_output_tensor(0).data.copy())
        return np.concatenate(outputs).astype(np.float32, copy=False)

    precision = compiled.get_property("INFERENCE_PRECISION_HINT")
    info = {
        "openvino": ov.__version__,
        "inference_precision": getattr(precision, "type_name", str(precision)),
        "streams": streams,
        "threads": int(compiled.get_property("INFERENCE_NUM_THREADS")),
    }
    return Session(run, model_input(dims, out), info, metadata, parameters)


def _reason(error: Exception) -> str:
    """The informative line of an OpenVINO error (it opens with "Exception from file:line")."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    told = [line for line in lines if not line.startswith("Exception from")]
    return (told or lines or [repr(error)])[0][:200]


def open_litert(path: Path, threads: int) -> Session:
    """The LiteRT interpreter (XNNPACK) on a ``.tflite`` file, float or quantized."""
    interpreter_module = require("ai_edge_litert.interpreter", "litert")
    from evalkit.models import tflite_metadata

    data = path.read_bytes()
    try:
        with quiet_native_stderr():  # "INFO: Created TensorFlow Lite XNNPACK delegate"
            interpreter = interpreter_module.Interpreter(model_content=data, num_threads=threads)
        entries = tflite_metadata.read_entries(data)
    except (ValueError, RuntimeError) as error:
        raise EvalkitError(
            f"cannot load TFLite model {path}: {str(error).splitlines()[0]}"
        ) from None
    runner = LiteRTRunner(interpreter)
    metadata = {METADATA_KEY: entries[METADATA_KEY].decode()} if METADATA_KEY in entries else {}
    standard = entries.get(tflite_metadata.STANDARD, b"")
    signature = runner.input_details.get("shape_signature", runner.input_details["shape"])
    found = model_input(list(signature), list(runner.output_details["shape"]))
    size = found.size or tflite_metadata.image_size(standard)
    found = ModelInput(found.layout, size, found.num_outputs)
    info = {
        "litert": package_version("ai-edge-litert") or "unknown",
        "threads": threads,
        "delegate": "XNNPACK",
        "input_dtype": np.dtype(runner.input_details["dtype"]).name,
        "output_dtype": np.dtype(runner.output_details["dtype"]).name,
    }
    if runner.input_quantization:
        info["input_quantization"] = dict(
            zip(("scale", "zero_point"), runner.input_quantization, strict=True)
        )
    parameters = tflite_metadata.constant_elements(data)
    session = Session(runner, found, info, metadata, parameters)
    session.normalization = tflite_metadata.standard_preprocessing(standard)  # type: ignore[attr-defined]
    session.labels = _packed_labels(path)  # type: ignore[attr-defined]
    return session


def _packed_labels(path: Path) -> list[str] | None:
    """Class names from a label file packed into the model (TFLite Support appends a zip)."""
    if not zipfile.is_zipfile(path):
        return None
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if n.lower().endswith(".txt")]
        if len(names) != 1:
            return None
        lines = archive.read(names[0]).decode(errors="replace").splitlines()
    return [line.strip() for line in lines if line.strip()] or None


class LiteRTRunner:
    """Runs a float batch through the interpreter: resizes its input to each batch size it
    sees (or runs image by image when the model's batch cannot change), quantizes integer
    inputs and dequantizes integer outputs."""

    def __init__(self, interpreter: Any) -> None:
        self.interpreter = interpreter
        self.input_details = interpreter.get_input_details()[0]
        self.output_details = interpreter.get_output_details()[0]
        self.input = self.input_details["index"]
        self.output = self.output_details["index"]
        self.input_quantization = self._quantization(self.input_details)
        self.output_quantization = self._quantization(self.output_details)
        self.size: int | None = None
        self.fixed_batch = False

    @staticmethod
    def _quantization(details: dict[str, Any]) -> tuple[float, int] | None:
        if not np.issubdtype(details["dtype"], np.integer):
            return None
        scale, zero_point = details["quantization"]
        if not scale:
            raise EvalkitError(
                f"the model's {np.dtype(details['dtype']).name} tensor has no quantization "
                "scale; evalkit feeds float preprocessing through a scale and zero point"
            )
        return float(scale), int(zero_point)

    def quantize(self, batch: np.ndarray) -> np.ndarray:
        dtype = self.input_details["dtype"]
        if self.input_quantization is None:
            return np.ascontiguousarray(batch, dtype=dtype)
        scale, zero_point = self.input_quantization
        info = np.iinfo(dtype)
        values = np.rint(batch.astype(np.float64) / scale + zero_point)
        return np.clip(values, info.min, info.max).astype(dtype)

    def dequantize(self, scores: np.ndarray) -> np.ndarray:
        if self.output_quantization is None:
            return scores.astype(np.float32, copy=False)
        scale, zero_point = self.output_quantization
        return ((scores.astype(np.float32) - zero_point) * scale).astype(np.float32)

    def _invoke(self, inputs: np.ndarray) -> np.ndarray:
        interpreter = self.interpreter
        if len(inputs) != self.size:
            with quiet_native_stderr():
                interpreter.resize_tensor_input(self.input, list(inputs.shape), strict=False)
                interpreter.allocate_tensors()
            self.size = len(inputs)
        interpreter.set_tensor(self.input, inputs)
        interpreter.invoke()
        result: np.ndarray = interpreter.get_tensor(self.output).copy()
        return result

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        inputs = self.quantize(batch)
        if not self.fixed_batch:
            try:
                return self.dequantize(self._invoke(inputs))
            except (RuntimeError, ValueError):
                self.fixed_batch, self.size = True, None  # the graph fixes its batch of 1
        rows = [self._invoke(inputs[i : i + 1]) for i in range(len(inputs))]
        return self.dequantize(np.concatenate(rows))
