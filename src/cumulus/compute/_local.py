"""Backend ``local`` (kept as a module name for existing imports; see ``_managed.py``)."""

from __future__ import annotations

from cumulus.compute._managed import LocalBackend, pid_alive

__all__ = ["LocalBackend", "pid_alive"]
