"""What the PyTorch adapters share: device choice, weights files, batched inference."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from evalkit._frameworks import import_torch
from evalkit.errors import EvalkitError
from evalkit.models.base import Execution, choose_device

SAVE_HINT = "save the weights with torch.save(model.state_dict(), FILE)"


def _check_format(path: Path) -> None:
    """Refuse a file that is neither torch.save's zip archive nor a pickle (text, an image, …)."""
    with path.open("rb") as handle:
        head = handle.read(4)
    if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):
        raise EvalkitError(f"{path} is not a PyTorch weights file; {SAVE_HINT}")


def _load_failure(path: Path, error: Exception) -> EvalkitError:
    """Why ``torch.load(weights_only=True)`` refused ``path``, without PyTorch's advice to
    disable the protection."""
    text = str(error)
    found = re.search(r"unsupported GLOBAL (\S+)", text)
    if found or "Unsupported operand" in text or "Unsupported global" in text:
        what = f" (it refers to {found.group(1)})" if found else ""
        return EvalkitError(
            f"{path} is a pickle that holds more than tensors{what}. evalkit loads weights with "
            "torch.load(weights_only=True), which refuses code in a weights file so that "
            f"loading it cannot run anything; {SAVE_HINT}"
        )
    first = next((line for line in text.splitlines() if line.strip()), type(error).__name__)
    return EvalkitError(f"{path} is not a readable PyTorch weights file ({first}); {SAVE_HINT}")


def load_state_dict(path: Path) -> dict[str, Any]:
    """Load a state_dict file safely (``weights_only=True``), or say why it cannot be used."""
    torch = import_torch()
    if not path.is_file():
        raise EvalkitError(f"weights file not found: {path}")
    _check_format(path)
    try:
        with warnings.catch_warnings():  # the unpickler warns about protocols before failing
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several unrelated types for a bad file
        raise _load_failure(path, error) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise EvalkitError(
            f"{path} holds no state_dict; save one with torch.save(model.state_dict(), FILE)"
        )
    return state


class TorchInference:
    """Runs a torch module on host batches and returns probabilities as NumPy.

    On CUDA, host batches are pinned and copied asynchronously; CUDA events around the copy and
    the forward pass measure device time without extra synchronisation (the copy back to the
    host is the synchronisation point).
    """

    def __init__(
        self,
        module: Any,
        device: str,
        outputs: str = "logits",
        execution: Execution | None = None,
    ) -> None:
        torch = self.torch = import_torch()
        self.execution = execution or Execution()
        if self.execution.threads:
            torch.set_num_threads(self.execution.threads)
        self.device = choose_device(device, torch.cuda.is_available(), "torch")
        self.module = module.to(self.device)
        self.channels_last = False
        self.runtime_name = "eager"
        self.agreement: dict[str, Any] = {}  # against eager, for another runtime
        self.use_channels_last(self.execution.channels_last is True)
        self.outputs = outputs
        self._events: list[tuple[Any, Any, Any]] = []

    def _autocast(self) -> Any:
        dtype = {"bf16": self.torch.bfloat16, "fp16": self.torch.float16}.get(
            self.execution.precision
        )
        return self.torch.autocast(self.device, dtype=dtype, enabled=dtype is not None)

    def to_device(self, batch: np.ndarray) -> Any:
        torch = self.torch
        inputs = torch.from_numpy(batch)
        if self.device == "cuda":
            inputs = inputs.pin_memory().to(self.device, non_blocking=True)
        if self.channels_last and inputs.dim() == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        return inputs

    def use_channels_last(self, enabled: bool) -> bool:
        """Store the module's weights (and inputs) channels-last, or not; torch models have
        this choice."""
        if self.runtime_name != "eager":
            return False  # compiled for the layout it had
        torch = self.torch
        layout = torch.channels_last if enabled else torch.contiguous_format
        self.module = self.module.to(memory_format=layout)
        self.channels_last = enabled
        return True

    def compile(self) -> None:
        """Run the module under ``torch.compile`` (inductor; compiled on the first batch of a
        shape, batch dimension dynamic), in the layout it has now."""
        import torch._inductor.config

        # compile in this process: its workers would print warnings evalkit filters here
        torch._inductor.config.compile_threads = 1
        self.module = self.torch.compile(self.module, dynamic=True)
        self.runtime_name = "compile"

    def forward(self, inputs: Any) -> Any:
        """The bare model call on device inputs (what a raw-forward benchmark times)."""
        with self.torch.inference_mode(), self._autocast():
            return self.module(inputs)

    def to_host(self, outputs: Any) -> np.ndarray:
        host: np.ndarray = outputs.float().cpu().numpy()
        return host

    def reset(self) -> None:
        """Forget the previous run's device events and peak memory."""
        self._events.clear()
        if self.device == "cuda":
            self.torch.cuda.reset_peak_memory_stats()

    def predict(self, batch: np.ndarray) -> np.ndarray:
        torch = self.torch
        events = self._cuda_events()
        with torch.inference_mode():
            if events:
                events[0].record()
            inputs = self.to_device(batch)
            if events:
                events[1].record()
            scores = self.forward(inputs).float()
            if events:
                events[2].record()
                self._events.append(events)
            if self.outputs == "logits":
                scores = torch.softmax(scores, dim=1)
            result: np.ndarray = scores.cpu().numpy()  # copies to host: the device has finished
        return result

    def parameter_count(self) -> int:
        return int(sum(p.numel() for p in self.module.parameters()))

    def _cuda_events(self) -> tuple[Any, Any, Any] | None:
        if self.device != "cuda":
            return None
        event = self.torch.cuda.Event
        return (event(enable_timing=True), event(enable_timing=True), event(enable_timing=True))

    def device_stages(self) -> dict[str, float]:
        """Seconds of host-to-device copies and device forward passes (CUDA events)."""
        if not self._events:
            return {}
        self.torch.cuda.synchronize()
        copy = sum(start.elapsed_time(copied) for start, copied, _ in self._events) / 1000
        forward = sum(copied.elapsed_time(done) for _, copied, done in self._events) / 1000
        return {"host_to_device": copy, "device_forward": forward}

    def runtime(self) -> dict[str, Any]:
        torch = self.torch
        info: dict[str, Any] = {
            "device": self.device,
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "interop_threads": torch.get_num_interop_threads(),
            "precision": self.execution.precision,
            "channels_last": self.channels_last,
            "runtime": self.runtime_name,
        }
        if self.agreement:
            info["agreement"] = self.agreement
        if self.device == "cuda":
            info["gpu"] = torch.cuda.get_device_name()
            info["peak_device_memory_mb"] = torch.cuda.max_memory_allocated() / 2**20
        return info
