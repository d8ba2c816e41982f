"""Lazy package exports: ``from polyalign.eval import evaluate`` imports torch only when asked for,
so that ``polyalign --help`` and light modules stay fast."""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_getattr(package: str, exports: dict[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` serving ``exports`` (``{name: submodule}``) of ``package`` on first use."""

    def __getattr__(name: str):
        if name in exports:
            return getattr(importlib.import_module(f".{exports[name]}", package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
