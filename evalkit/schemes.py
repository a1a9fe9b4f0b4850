"""Model-id schemes: the built-in ones and those plug-ins add (standard library only, so the
CLI can list them in ``--help`` without importing the adapters)."""

from __future__ import annotations

BUILTIN: dict[str, str] = {
    "torchvision": "evalkit.models.torchvision:TorchvisionAdapter",
    "keras": "evalkit.models.keras:KerasApplicationAdapter",
    "timm": "evalkit.models.timm:TimmAdapter",
    "onnx": "evalkit.models.runtime_files:OnnxAdapter",
    "openvino": "evalkit.models.runtime_files:OpenVinoAdapter",
    "tflite": "evalkit.models.runtime_files:TFLiteAdapter",
    "torchscript": "evalkit.models.files:TorchScriptAdapter",
    "torch-export": "evalkit.models.files:TorchExportAdapter",
    "keras-file": "evalkit.models.files:KerasFileAdapter",
}
FORMS: dict[str, str] = {  # how each built-in scheme's ids look (``evalkit run --help``)
    "torchvision": "torchvision:NAME[@WEIGHTS]",
    "keras": "keras:APPLICATION",
    "timm": "timm:NAME[@TAG]",
    "onnx": "onnx:FILE.onnx",
    "openvino": "openvino:FILE.xml|FILE.onnx",
    "tflite": "tflite:FILE.tflite",
    "torchscript": "torchscript:FILE.pt",
    "torch-export": "torch-export:FILE.pt2",
    "keras-file": "keras-file:FILE.keras|FILE.h5",
}
NAMED = ("torchvision", "keras", "timm")  # schemes whose names may carry an @WEIGHTS tag
ENTRY_POINTS = "evalkit.adapters"


def plugin_adapters() -> dict[str, str]:
    """Schemes that installed packages add (entry points; built-in schemes cannot be taken)."""
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINTS) if ep.name not in BUILTIN}


def adapters() -> dict[str, str]:
    """Every scheme → its ``module:Class`` target: built in, then plug-ins."""
    return {**BUILTIN, **plugin_adapters()}


def id_forms() -> list[str]:
    """Every model-id form: the built-in ones, then ``SCHEME:…`` per plug-in scheme."""
    return [*FORMS.values(), *(f"{scheme}:… (plug-in)" for scheme in plugin_adapters())]
