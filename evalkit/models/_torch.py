"""What the PyTorch adapters share: device choice, weights files, batched inference."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from evalkit._frameworks import import_torch
from evalkit.errors import EvalkitError

DEVICES = ("auto", "cpu", "cuda")


def is_offline() -> bool:
    """Whether evalkit may download weights (``EVALKIT_OFFLINE=1`` forbids it)."""
    return os.environ.get("EVALKIT_OFFLINE", "").lower() in {"1", "true", "yes"}


def resolve_device(device: str) -> str:
    torch = import_torch()
    if device not in DEVICES:
        raise EvalkitError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise EvalkitError("--device cuda was asked for but torch sees no CUDA GPU; use cpu/auto")
    return device


def load_state_dict(path: Path) -> dict[str, Any]:
    """Load a state_dict file safely (``weights_only=True``), or say why it cannot be used."""
    torch = import_torch()
    if not path.is_file():
        raise EvalkitError(f"weights file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several unrelated types for a bad file
        raise EvalkitError(f"cannot load weights file {path}: {error}".splitlines()[0]) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise EvalkitError(
            f"{path} holds no state_dict; save one with torch.save(model.state_dict(), FILE)"
        )
    return state


class TorchInference:
    """Runs a torch module on host batches and returns probabilities as NumPy."""

    def __init__(self, module: Any, device: str, outputs: str = "logits") -> None:
        self.torch = import_torch()
        self.device = resolve_device(device)
        self.module = module.to(self.device)
        self.outputs = outputs

    def predict(self, batch: np.ndarray) -> np.ndarray:
        torch = self.torch
        with torch.inference_mode():
            inputs = torch.from_numpy(batch)
            if self.device == "cuda":
                inputs = inputs.pin_memory().to(self.device, non_blocking=True)
            scores = self.module(inputs).float()
            if self.outputs == "logits":
                scores = torch.softmax(scores, dim=1)
            result: np.ndarray = scores.cpu().numpy()  # copies to host: the device has finished
        return result

    def runtime(self) -> dict[str, Any]:
        torch = self.torch
        info: dict[str, Any] = {
            "device": self.device,
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "interop_threads": torch.get_num_interop_threads(),
        }
        if self.device == "cuda":
            info["gpu"] = torch.cuda.get_device_name()
            info["peak_device_memory_mb"] = torch.cuda.max_memory_allocated() / 2**20
        return info
