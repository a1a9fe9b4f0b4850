"""``evalkit models``: what can be evaluated, and where each kind looks for weights."""

from __future__ import annotations

import os
from pathlib import Path

from evalkit._frameworks import is_installed
from evalkit.registry import ADAPTERS


def torchvision_lines() -> list[str]:
    from evalkit._frameworks import import_torch
    from evalkit.models import torchvision as tv

    torch = import_torch()
    models = tv._torchvision().models
    lines = [f"torchvision:NAME[@WEIGHTS]  weights cache: {Path(torch.hub.get_dir())}/checkpoints"]
    for name in tv.model_names():
        tags = ", ".join(w.name for w in models.get_model_weights(name))
        lines.append(f"  torchvision:{name}  [{tags}]")
    return lines


def keras_lines() -> list[str]:
    from evalkit.models import keras as ka

    home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    lines = [f"keras:NAME  weights cache: {home}/models (weights='imagenet')"]
    lines += [f"  keras:{name}" for name in ka.model_names()]
    return lines


def print_catalog() -> None:
    print("model ids: " + ", ".join(f"{scheme}:…" for scheme in ADAPTERS))
    print(
        "weights: --weights ID=FILE, else the framework cache below, else a download "
        "(disabled with EVALKIT_OFFLINE=1)"
    )
    print(
        "torch-export:FILE.pt2 and keras-file:FILE.keras read FILE.evalkit.json "
        "(classes, preprocessing)"
    )
    sections = (("torch", torchvision_lines), ("tensorflow", keras_lines))
    for framework, lines in sections:
        if is_installed(framework):
            print("\n".join(lines()))
        else:
            print(f"({framework} not installed: pip install 'evalkit[all]')")
