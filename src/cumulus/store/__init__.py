"""Run-history store: SQLAlchemy 2 models, Alembic migrations applied on open, queries."""

from __future__ import annotations

from cumulus.store._store import Store
from cumulus.store.engine import HEAD_REVISION, dispose_all, normalize_url
from cumulus.store.status import TERMINAL, RunStatus, can_transition

__all__ = ["HEAD_REVISION", "TERMINAL", "RunStatus", "Store", "can_transition", "dispose_all",
           "normalize_url"]
