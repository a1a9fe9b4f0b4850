"""``evalkit models``: what can be evaluated, and where each kind looks for weights."""

from __future__ import annotations

from evalkit._frameworks import is_installed
from evalkit.registry import adapter_class
from evalkit.schemes import adapters, plugin_adapters

FRAMEWORK_OF = {"torchvision": "torch", "keras": "tensorflow"}


def zoo_lines(scheme: str) -> list[str]:
    """A model zoo's models and weights tags, and its weights cache (from its adapter class)."""
    adapter = adapter_class(scheme)
    lines = [f"{adapter.id_form}  weights cache: {adapter.weights_cache()}"]
    for name in adapter.model_names():
        tags = adapter.weights_tags(name)
        lines.append(f"  {scheme}:{name}" + (f"  [{', '.join(tags)}]" if tags else ""))
    return lines


RUNTIME_FILES = {  # scheme: (module to import, extra)
    "onnx": ("onnxruntime", "onnx"),
    "openvino": ("openvino", "openvino"),
    "tflite": ("ai_edge_litert", "tflite"),
    "timm": ("timm", "timm"),
    "torchscript": ("torch", "torch"),
    "torch-export": ("torch", "torch"),
    "keras-file": ("tensorflow", "tf"),
}


def runtime_lines() -> list[str]:
    """Model-file and timm schemes: what each reads, and whether its runtime is installed."""
    lines = ["model files and other runtimes (preprocessing: docs/runtimes.md):"]
    for scheme, (module, extra) in RUNTIME_FILES.items():
        form = getattr(adapter_class(scheme), "id_form", f"{scheme}:FILE")
        state = "installed" if is_installed(module) else f"pip install 'evalkit[{extra}]'"
        lines.append(f"  {form}  [{state}]")
    for scheme, target in plugin_adapters().items():
        lines.append(f"  {scheme}:…  (plug-in: {target})")
    return lines


def print_catalog() -> None:
    print("model ids: " + ", ".join(f"{scheme}:…" for scheme in adapters()))
    print(
        "weights: --weights ID=FILE, else the framework cache below, else a download "
        "(disabled with EVALKIT_OFFLINE=1)"
    )
    print("\n".join(runtime_lines()))
    for scheme in ("torchvision", "keras"):
        framework = FRAMEWORK_OF[scheme]
        if is_installed(framework):
            print("\n".join(zoo_lines(scheme)))
        else:
            print(f"({framework} not installed: pip install 'evalkit[all]')")
