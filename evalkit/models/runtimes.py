"""Faster runtimes for a loaded model (``--runtime``): torch.compile, or the model exported once
and run by ONNX Runtime, OpenVINO (torch models) or LiteRT with XNNPACK (Keras models).

The exported file is cached under ``<cache>/exported/``, keyed by the model id, the weights'
sha256 and the framework versions, so only the first run pays for the export. Before a run
uses a runtime, it is checked against the eager model on a probe batch of real photographs
(:func:`evalkit.tuning.probe_batch`): its top-1 must agree on every image and no probability
may differ by more than :data:`MAX_ABS_DP`; otherwise the run stops with one line saying so.
The agreement is recorded in ``environment.runtime.agreement``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from evalkit._frameworks import quiet_native_stderr
from evalkit.atomic import write_atomic
from evalkit.environment import package_version
from evalkit.errors import EvalkitError
from evalkit.models.base import Inference, ModelAdapter
from evalkit.naming import display_name, slug

MAX_ABS_DP = 1e-3  # largest |p_runtime - p_eager| accepted on the probe batch (fp32 runtimes)
MIN_TOP1_AGREEMENT = 1.0  # every probe image keeps its top-1 class
PROBE_SIZE = 8
FRAMEWORK_RUNTIMES = {
    "torch": ("eager", "compile", "onnxruntime", "openvino"),
    "keras": ("eager", "litert"),
}
INSTALL = {
    "onnxruntime": "pip install 'evalkit[onnx]'  (onnxruntime, onnx, onnxscript)",
    "openvino": "pip install 'evalkit[openvino]'  (openvino, onnx, onnxscript)",
    "litert": "pip install 'evalkit[litert]'  (ai-edge-litert)",
}


def softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    result: np.ndarray = exp / exp.sum(axis=1, keepdims=True)
    return result


class ExportedInference:
    """A model file run by another runtime: host NumPy in, probabilities out (CPU)."""

    device = "cpu"

    def __init__(
        self,
        runtime: str,
        path: Path,
        run: Callable[[np.ndarray], np.ndarray],
        info: dict[str, Any],
        eager: Inference,
        outputs: str,
    ) -> None:
        self.runtime_name = runtime
        self.path = path
        self.run = run
        self.info = info
        self.parameters = eager.parameter_count()
        self.outputs = outputs
        self.agreement: dict[str, Any] = {}

    def use_channels_last(self, enabled: bool) -> bool:
        return False  # the runtime picks its own layout

    def to_device(self, batch: np.ndarray) -> Any:
        return np.ascontiguousarray(batch, dtype=np.float32)

    def forward(self, inputs: Any) -> Any:
        return self.run(inputs)

    def to_host(self, outputs: Any) -> np.ndarray:
        return np.asarray(outputs)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        scores = np.asarray(self.run(self.to_device(batch)), dtype=np.float32)
        return softmax(scores) if self.outputs == "logits" else scores

    def parameter_count(self) -> int:
        return self.parameters

    def reset(self) -> None:
        pass

    def device_stages(self) -> dict[str, float]:
        return {}

    def runtime(self) -> dict[str, Any]:
        return {
            "device": "cpu",
            "runtime": self.runtime_name,
            **self.info,
            "exported_file": str(self.path),
            "agreement": self.agreement,
        }


def check_runtime(model: str, framework: str, runtime: str) -> None:
    """Refuse a runtime that cannot run this framework's models (before anything loads)."""
    allowed = FRAMEWORK_RUNTIMES.get(framework, ("eager",))
    if runtime not in allowed:
        raise EvalkitError(
            f"--runtime {runtime} does not run {framework} models such as {model}; "
            f"choose one of {', '.join(allowed)}"
        )


def accelerate(adapter: ModelAdapter, runtime: str, cache_root: Path) -> None:
    """Switch ``adapter`` to ``runtime`` (exporting its model if needed) after checking the
    runtime's predictions against the eager model's on a probe batch."""
    if runtime == "eager":
        return
    check_runtime(adapter.id, adapter.framework, runtime)
    from evalkit.tuning import agreement, probe_batch

    if runtime != "compile" and adapter.inference.runtime()["device"] != "cpu":
        raise EvalkitError(f"--runtime {runtime} runs on the CPU here; add --device cpu")
    from evalkit.runner import checked_predict

    batch = probe_batch(adapter, PROBE_SIZE)
    reference = checked_predict(adapter, batch)
    eager = adapter.inference
    if runtime == "compile":
        accelerated = _compiled(eager)
    else:
        folder = cache_root / "exported"
        accelerated = _EXPORTERS[runtime](adapter, eager, batch, folder)
    adapter.inference = accelerated
    measured = agreement(reference, adapter.predict(batch))
    _check(adapter.id, runtime, measured)
    accelerated.agreement = measured


def _check(model: str, runtime: str, measured: dict[str, Any]) -> None:
    if measured["top1"] < MIN_TOP1_AGREEMENT or measured["max_abs_dp"] > MAX_ABS_DP:
        raise EvalkitError(
            f"--runtime {runtime} changes {model}'s predictions beyond the tolerance on "
            f"{measured['images']} probe images (top-1 agreement {measured['top1']:.1%}, max "
            f"|Δp| {measured['max_abs_dp']:.2g} > {MAX_ABS_DP:g}); use --runtime eager"
        )


def _compiled(eager: Inference) -> Inference:
    from evalkit.models._torch import TorchInference

    if not isinstance(eager, TorchInference):
        raise EvalkitError("--runtime compile runs torch models only")
    eager.compile()
    return eager


def _require(module: str, runtime: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise EvalkitError(f"--runtime {runtime} needs {module}: {INSTALL[runtime]}") from None


def export_name(model: str, weights_sha256: str, kind: str, versions: dict[str, str]) -> str:
    """The cached export's file name: model, weights hash and exporter versions."""
    identity = {"id": model, "weights": weights_sha256, "versions": versions}
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    return f"{slug(display_name(model))}-{digest}.{kind}"


@contextlib.contextmanager
def _cached(
    adapter: ModelAdapter, folder: Path, kind: str, versions: dict[str, str]
) -> Iterator[tuple[Path, bool]]:
    """Where the export lives and whether it exists; weights without a hash are exported to a
    temporary folder (nothing identifies them for a later run)."""
    sha256 = adapter.describe().weights.sha256
    if sha256 is None:
        with tempfile.TemporaryDirectory(prefix="evalkit-export-") as tmp:
            yield Path(tmp) / f"model.{kind}", False
        return
    path = folder / export_name(adapter.id, sha256, kind, versions)
    yield path, path.is_file()


def _torch_versions() -> dict[str, str]:
    import onnx
    import torch

    return {"torch": torch.__version__, "onnx": onnx.__version__}


def export_onnx(eager: Inference, example: np.ndarray, target: Path) -> None:
    """The torch module as one self-contained ONNX file with a dynamic batch dimension."""
    import torch

    module = eager.module  # type: ignore[attr-defined]
    inputs = torch.from_numpy(np.ascontiguousarray(example[:2]))
    target.parent.mkdir(parents=True, exist_ok=True)

    def write(tmp: Path) -> None:
        with _quiet_export():
            torch.onnx.export(
                module.to(memory_format=torch.contiguous_format).cpu(),
                (inputs,),
                str(tmp),
                dynamo=True,  # torch.export's exporter (the TorchScript one is deprecated)
                dynamic_shapes=({0: torch.export.Dim("batch")},),
                input_names=["images"],
                output_names=["scores"],
                external_data=False,  # one self-contained file
                verbose=False,
            )

    write_atomic(target, write)


@contextlib.contextmanager
def _quiet_export() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@contextlib.contextmanager
def _onnx_file(
    adapter: ModelAdapter, eager: Inference, batch: np.ndarray, folder: Path
) -> Iterator[Path]:
    """The torch model's ONNX export: from the cache, or exported now."""
    _require("onnx", "onnxruntime")
    with _cached(adapter, folder, "onnx", _torch_versions()) as (path, exists):
        if not exists:
            export_onnx(eager, batch, path)
        yield path


def _onnxruntime(
    adapter: ModelAdapter, eager: Inference, batch: np.ndarray, folder: Path
) -> ExportedInference:
    ort = _require("onnxruntime", "onnxruntime")
    with _onnx_file(adapter, eager, batch, folder) as path:
        options = ort.SessionOptions()
        options.intra_op_num_threads = _threads(eager)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # idle threads sleep instead of spinning: the decode threads need those cores
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def run(inputs: np.ndarray) -> np.ndarray:
        result: np.ndarray = session.run(None, {name: inputs})[0]
        return result

    info = {"onnxruntime": ort.__version__, "threads": options.intra_op_num_threads}
    return ExportedInference("onnxruntime", path, run, info, eager, _outputs(eager))


def _openvino(
    adapter: ModelAdapter, eager: Inference, batch: np.ndarray, folder: Path
) -> ExportedInference:
    ov = _require("openvino", "openvino")
    with _onnx_file(adapter, eager, batch, folder) as path:
        core = ov.Core()
        config = {
            # f32, not the bf16 OpenVINO picks on CPUs that have it (|Δp| ~3e-3 against eager)
            "INFERENCE_PRECISION_HINT": "f32",
            "PERFORMANCE_HINT": "THROUGHPUT",
            "INFERENCE_NUM_THREADS": _threads(eager),
        }
        compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
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
        return np.concatenate(outputs)

    precision = compiled.get_property("INFERENCE_PRECISION_HINT")
    info = {
        "openvino": ov.__version__,
        "inference_precision": getattr(precision, "type_name", str(precision)),
        "streams": streams,
        "threads": int(compiled.get_property("INFERENCE_NUM_THREADS")),
    }
    return ExportedInference("openvino", path, run, info, eager, _outputs(eager))


def _litert(
    adapter: ModelAdapter, eager: Inference, batch: np.ndarray, folder: Path
) -> ExportedInference:
    interpreter_module = _require("ai_edge_litert.interpreter", "litert")
    from evalkit.models._keras import KerasInference, export_tflite

    assert isinstance(eager, KerasInference)  # check_runtime allows litert for Keras only

    tf = eager.tf
    versions = {"tensorflow": tf.__version__}
    with _cached(adapter, folder, "tflite", versions) as (path, exists):
        if not exists:
            export_tflite(eager, path)
        with quiet_native_stderr():  # "INFO: Created TensorFlow Lite XNNPACK delegate"
            interpreter = interpreter_module.Interpreter(
                model_path=str(path), num_threads=_threads(eager)
            )
    runner = _LiteRTRunner(interpreter)
    info = {
        "litert": package_version("ai-edge-litert") or "unknown",
        "threads": _threads(eager),
        "delegate": "XNNPACK",
    }
    return ExportedInference("litert", path, runner, info, eager, _outputs(eager))


class _LiteRTRunner:
    """Resizes the interpreter's input to each batch size it sees (one allocation per size)."""

    def __init__(self, interpreter: Any) -> None:
        self.interpreter = interpreter
        self.input = interpreter.get_input_details()[0]["index"]
        self.output = interpreter.get_output_details()[0]["index"]
        self.size: int | None = None

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
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


def _threads(eager: Inference) -> int:
    """The eager model's CPU threads (``--threads``), else all cores."""
    execution = getattr(eager, "execution", None)
    threads = getattr(execution, "threads", None)
    return int(threads or os.cpu_count() or 1)


def _outputs(eager: Inference) -> str:
    return str(getattr(eager, "outputs", "logits"))


_EXPORTERS: dict[str, Callable[[ModelAdapter, Inference, np.ndarray, Path], ExportedInference]] = {
    "onnxruntime": _onnxruntime,
    "openvino": _openvino,
    "litert": _litert,
}
