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

from evalkit.atomic import write_atomic
from evalkit.errors import EvalkitError
from evalkit.models.base import Inference, ModelAdapter
from evalkit.models.sessions import Session, open_litert, open_onnx, open_openvino, require
from evalkit.naming import display_name, slug

MAX_ABS_DP = 1e-3  # largest |p_runtime - p_eager| accepted on the probe batch (fp32 runtimes)
MIN_TOP1_AGREEMENT = 1.0  # every probe image keeps its top-1 class
PROBE_SIZE = 8
FRAMEWORK_RUNTIMES = {
    "torch": ("eager", "compile", "onnxruntime", "openvino"),
    "keras": ("eager", "litert"),
}


def softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    result: np.ndarray = exp / exp.sum(axis=1, keepdims=True)
    return result


class ExportedInference:
    """A model file run by another runtime (a :class:`~evalkit.models.sessions.Session`):
    host NumPy in, probabilities out."""

    def __init__(
        self, runtime: str, path: Path, session: Session, outputs: str, parameters: int = 0
    ) -> None:
        self.runtime_name = runtime
        self.path = path
        self.session = session
        self.run = session.run
        self.device = session.device
        self.parameters = parameters or session.parameters
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
        info = {"device": self.device, "runtime": self.runtime_name, **self.session.info}
        if self.agreement:
            info |= {"exported_file": str(self.path), "agreement": self.agreement}
        return info


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
    require("onnx", "onnxruntime")
    with _cached(adapter, folder, "onnx", _torch_versions()) as (path, exists):
        if not exists:
            export_onnx(eager, batch, path)
        yield path


Exporter = Callable[[ModelAdapter, Inference, np.ndarray, Path], ExportedInference]


def _through_onnx(runtime: str, opener: Callable[[Path, int], Session]) -> Exporter:
    """An exporter that runs the torch model's (cached) ONNX export with ``opener``."""

    def exporter(
        adapter: ModelAdapter, eager: Inference, batch: np.ndarray, folder: Path
    ) -> ExportedInference:
        with _onnx_file(adapter, eager, batch, folder) as path:
            session = opener(path, _threads(eager))
        return ExportedInference(runtime, path, session, _outputs(eager), _params(eager))

    return exporter


def _litert(
    adapter: ModelAdapter, eager: Inference, batch: np.ndarray, folder: Path
) -> ExportedInference:
    require("ai_edge_litert.interpreter", "litert")
    from evalkit.models._keras import KerasInference, export_tflite

    assert isinstance(eager, KerasInference)  # check_runtime allows litert for Keras only
    versions = {"tensorflow": eager.tf.__version__}
    with _cached(adapter, folder, "tflite", versions) as (path, exists):
        if not exists:
            export_tflite(eager, path)
        session = open_litert(path, _threads(eager))
    return ExportedInference("litert", path, session, _outputs(eager), _params(eager))


def _params(eager: Inference) -> int:
    return eager.parameter_count()


def _threads(eager: Inference) -> int:
    """The eager model's CPU threads (``--threads``), else all cores."""
    execution = getattr(eager, "execution", None)
    threads = getattr(execution, "threads", None)
    return int(threads or os.cpu_count() or 1)


def _outputs(eager: Inference) -> str:
    return str(getattr(eager, "outputs", "logits"))


_EXPORTERS: dict[str, Exporter] = {
    "onnxruntime": _through_onnx("onnxruntime", open_onnx),
    "openvino": _through_onnx("openvino", open_openvino),
    "litert": _litert,
}
