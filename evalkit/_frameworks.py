"""The one place where evalkit imports PyTorch and TensorFlow.

With the torch and tensorflow builds evalkit supports, a process that imports ``tensorflow``
before ``torch`` and then runs a torch model dies with a segmentation fault (the crash is in
loading triton, which torchvision and torch.export pull in through ``torch._dynamo``). Every
evalkit module therefore imports the frameworks only through :func:`import_torch` and
:func:`import_tensorflow`: TensorFlow is never imported before torch (when torch is installed),
and if the user's own code already imported TensorFlow first, evalkit refuses to run a torch
model with a clear message instead of crashing. Both also tune the memory allocator first
(:mod:`evalkit.allocator`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from types import ModuleType

from evalkit.allocator import tune_allocator
from evalkit.errors import EvalkitError

_INSTALL_HINT = {
    "torch": "pip install 'evalkit[torch]'  (torch and torchvision)",
    "tensorflow": "pip install 'evalkit[tf]'  (tensorflow)",
}


_expected: frozenset[str] | None = None  # the frameworks this process will run (None: any)


def expect_frameworks(frameworks: Iterable[str]) -> None:
    """Declare the only frameworks (``torch``, ``keras``) whose models this process will run,
    as ``evalkit run`` can: a Keras-only process then skips importing torch (~3 s), and a torch
    model asked for later still gets the clear import-order error, never the crash."""
    global _expected
    _expected = frozenset(frameworks)


def is_installed(name: str) -> bool:
    """Whether a framework can be imported, without importing it."""
    return name in sys.modules or importlib.util.find_spec(name) is not None


def _require(name: str) -> None:
    if not is_installed(name):
        raise EvalkitError(f"{name} is not installed; install it with: {_INSTALL_HINT[name]}")


def _torch_modules() -> list[str]:
    """What must be imported before TensorFlow: torch, torch._dynamo (it loads triton, which
    crashes once TensorFlow is loaded; torchvision and torch.export import it) and torchvision."""
    return ["torch", "torch._dynamo", *(["torchvision"] if is_installed("torchvision") else [])]


def import_torch() -> ModuleType:
    """Import torch (with torchvision), refusing the import order that crashes."""
    _require("torch")
    tune_allocator()  # before the framework allocates anything
    missing = [name for name in _torch_modules() if name not in sys.modules]
    if missing and "tensorflow" in sys.modules:
        raise EvalkitError(
            "tensorflow was imported before torch in this process, which crashes torch models "
            f"with these builds ({', '.join(missing)} not yet imported); import torch and "
            "torchvision (or evalkit's torch models) before tensorflow, or evaluate the torch "
            "models in a separate process"
        )
    # a CUDA build on a machine without CUDA warns when torch.utils.cpp_extension is imported
    # (torch.compile, torch.utils.benchmark): noise for evalkit's users
    logging.getLogger("torch.utils.cpp_extension").addFilter(_no_cuda_home_warning)
    for name in missing:
        importlib.import_module(name)
    return sys.modules["torch"]


def _no_cuda_home_warning(record: logging.LogRecord) -> bool:
    return "No CUDA runtime is found" not in record.getMessage()


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence TensorFlow's C++ start-up chatter (absl logs written before its log level is read).

    Python-level errors still surface as exceptions; ``EVALKIT_VERBOSE=1`` keeps the output.
    """
    if os.environ.get("EVALKIT_VERBOSE"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow() -> ModuleType:
    """Import tensorflow, importing torch first when it is installed (see module docstring)."""
    _require("tensorflow")
    tune_allocator()
    if "tensorflow" not in sys.modules:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        if is_installed("torch") and (_expected is None or "torch" in _expected):
            import_torch()
    with quiet_native_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")  # probing logs a CUDA error when there is none

    return tf
