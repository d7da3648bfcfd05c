"""The ``hvload`` command."""

from .core import main

__all__ = ["main"]
