"""Model files run by another runtime: ``onnx:FILE.onnx`` (ONNX Runtime),
``openvino:FILE.xml|FILE.onnx`` (OpenVINO) and ``tflite:FILE.tflite`` (LiteRT, float or
quantized).

Their cards (preprocessing, classes, output kind) are read as :mod:`evalkit.models.cards`
describes; the file's own input shape decides the layout and, when fixed, the size, and a card
that disagrees with it is refused.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

from evalkit.errors import EvalkitError
from evalkit.models.base import ModelRequest
from evalkit.models.cards import METADATA_KEY
from evalkit.models.files import FileAdapter
from evalkit.models.runtimes import ExportedInference
from evalkit.models.sessions import Session, open_litert, open_onnx, open_openvino


class RuntimeFileAdapter(FileAdapter):
    """A model file opened by :attr:`runtime_name`'s session opener."""

    runtime_name: ClassVar[str]
    devices: ClassVar[tuple[str, ...]] = ("auto", "cpu")
    id_form: ClassVar[str]

    def open(self, path: Path, threads: int, device: str) -> Session:
        raise NotImplementedError

    def __init__(self, request: ModelRequest) -> None:
        super().__init__(request)
        if request.device not in self.devices:
            raise EvalkitError(
                f"{request.id}: {self.runtime_name} runs on the CPU here; use --device cpu"
            )
        threads = request.execution.threads or os.cpu_count() or 1
        session = self.open(self.path, threads, request.device)
        self.inference = ExportedInference(self.runtime_name, self.path, session, "logits")
        self.read_card(
            session.model_input,
            embedded=session.metadata.get(METADATA_KEY),
            normalization=getattr(session, "normalization", None),
            packed_labels=getattr(session, "labels", None),
        )


class OnnxAdapter(RuntimeFileAdapter):
    framework = "onnx"
    runtime_name = "onnxruntime"
    devices = ("auto", "cpu", "cuda")  # the CUDA execution provider, when installed
    id_form = "onnx:FILE.onnx (ONNX Runtime)"

    def open(self, path: Path, threads: int, device: str) -> Session:
        return open_onnx(path, threads, device)


class OpenVinoAdapter(RuntimeFileAdapter):
    framework = "openvino"
    runtime_name = "openvino"
    id_form = "openvino:FILE.xml|FILE.onnx (OpenVINO)"

    def open(self, path: Path, threads: int, device: str) -> Session:
        return open_openvino(path, threads)


class TFLiteAdapter(RuntimeFileAdapter):
    framework = "tflite"
    runtime_name = "litert"
    id_form = "tflite:FILE.tflite (LiteRT; float, int8 or uint8)"

    def open(self, path: Path, threads: int, device: str) -> Session:
        return open_litert(path, threads)
