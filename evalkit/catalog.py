"""``evalkit models``: what can be evaluated, and where each kind looks for weights."""

from __future__ import annotations

from evalkit._frameworks import is_installed
from evalkit.registry import ADAPTERS, NAMED, adapter_class

FRAMEWORK_OF = {"torchvision": "torch", "keras": "tensorflow"}


def zoo_lines(scheme: str) -> list[str]:
    """A model zoo's models and weights tags, and its weights cache (from its adapter class)."""
    adapter = adapter_class(scheme)
    lines = [f"{adapter.id_form}  weights cache: {adapter.weights_cache()}"]
    for name in adapter.model_names():
        tags = adapter.weights_tags(name)
        lines.append(f"  {scheme}:{name}" + (f"  [{', '.join(tags)}]" if tags else ""))
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
    for scheme in NAMED:
        framework = FRAMEWORK_OF[scheme]
        if is_installed(framework):
            print("\n".join(zoo_lines(scheme)))
        else:
            print(f"({framework} not installed: pip install 'evalkit[all]')")
