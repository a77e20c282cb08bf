"""Run environments on a node: the interpreter a run's script executes with."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from cumulus.errors import EnvironmentBuildError


def prepare_environment(ws: Any, definition: dict[str, Any] | None,
                        log: Callable[[str], None]) -> tuple[str, dict[str, str]]:
    """(python executable, extra env vars) for a run's environment definition."""
    if not definition or not (definition.get("pip") or definition.get("requirements")
                              or definition.get("python") or definition.get("image")
                              or definition.get("dockerfile")):
        env_vars = dict((definition or {}).get("env_vars") or {})
        return sys.executable, env_vars
    raise EnvironmentBuildError(
        f"Environment {definition.get('name')!r} asks for packages or an image, which this "
        "node cannot build yet.")
