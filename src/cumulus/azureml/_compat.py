"""Shared by the SDK v1 adapters: reporting Azure-only arguments, unsupported calls."""

from __future__ import annotations

import sys
import threading
from typing import Any, NoReturn

from cumulus.errors import CumulusError

_reported: set[str] = set()
_lock = threading.Lock()


class UnsupportedError(CumulusError, NotImplementedError):
    """An SDK call that has no meaning off Azure; the message names the local alternative."""


def azure_only(what: str, value: Any, meaning: str = "ignored") -> None:
    """Report once per process that an Azure-only argument was accepted and what it means here."""
    if value is None or value is False or value == "" or value == [] or value == {}:
        return
    key = f"{what}"
    with _lock:
        if key in _reported:
            return
        _reported.add(key)
    shown = value if not _looks_secret(what) else "***"
    print(f"[cumulus.azureml] {what}={shown!r} only applies on Azure: {meaning}.",
          file=sys.stderr)


def _looks_secret(name: str) -> bool:
    return any(s in name.lower() for s in ("key", "secret", "token", "password", "auth"))


def unsupported(call: str, alternative: str) -> NoReturn:
    raise UnsupportedError(f"{call} has no meaning off Azure. {alternative}")


def target_name(target: Any) -> str | None:
    """A compute target given as a name or an object (SDK code passes both)."""
    from cumulus.runconfig import ScriptRunConfig

    return ScriptRunConfig(compute_target=target).compute_target


def as_int(name: str, value: Any) -> int | None:
    """SDK code passes numbers as strings too (``idle_seconds_before_scaledown='300'``)."""
    if value is None or isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        from cumulus.errors import ValidationError

        raise ValidationError(f"{name} must be a whole number, got {value!r}.") from None


__all__ = ["UnsupportedError", "as_int", "azure_only", "target_name", "unsupported"]
