"""Model adapters: one per framework/runtime, each owning its preprocessing and label space."""

from evalkit.models.base import ModelAdapter

__all__ = ["ModelAdapter"]
