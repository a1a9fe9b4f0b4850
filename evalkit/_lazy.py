"""Names a package exports but imports only on first use (keeps ``import evalkit`` cheap)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(
    package: str, targets: dict[str, str], namespace: dict[str, Any]
) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``targets[name]`` (a module) on first access."""

    def __getattr__(name: str) -> Any:
        if name not in targets:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(targets[name]), name)
        namespace[name] = value
        return value

    return __getattr__
