"""Names of a package loaded on first use (PEP 562), so that importing the package is cheap.

Example (in a package's ``__init__``)::

    _EXPORTS = {"Run": "cumulus.run"}
    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str], names: list[str],
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module ``__getattr__`` importing ``exports[name]`` on first use (then cached in the
    package) and a ``__dir__`` listing ``names``."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return list(names)

    return __getattr__, __dir__


__all__ = ["lazy_exports"]
