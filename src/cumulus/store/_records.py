"""Named records behind the store: compute targets (with their state and node-count
samples), datastores, and the generic key/value rows of other named things (a workspace's
schedules and published pipelines). Callers get plain dicts, never sessions.

Example::

    store.computes.put("gpu", kind="local", config={...})
    store.computes.merge_state("gpu", pid=4242)          # -> the merged state
    store.datastores.default("workspaceblobstore")        # -> {"name", "url", "definition"}
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import delete, select, update

from cumulus.store import _hot as hot
from cumulus.store import models as m
from cumulus.store._repository import Repository
from cumulus.store._retry import retry_public_methods

#: seconds compute samples are kept
SAMPLE_KEEP = 7 * 86400


def _now() -> datetime:
    return datetime.now(timezone.utc)


@retry_public_methods
class RecordRepository(Repository):
    """Rows of a table keyed by ``name`` (``model``: its mapped class)."""

    def put(self, model: type[Any], key: str, **values: Any) -> None:
        """Create the record, or update the given columns of an existing one."""
        with self.store.session() as s:
            obj = s.get(model, key, with_for_update=True)
            if obj is None:
                s.add(model(name=key, **values))
            else:
                for k, v in values.items():
                    setattr(obj, k, v)

    def get(self, model: type[Any], key: str) -> dict[str, Any] | None:
        table = model.__table__
        with self.store._driver(write=False) as conn:   # read on every submit
            return self.store.sql.get(("record", table.name), lambda: hot.record(table)
                                      ).first(conn, {"key": key})

    def list(self, model: type[Any]) -> list[dict[str, Any]]:
        with self.store.reading() as s:
            rows = s.scalars(select(model).order_by(model.name)).all()
            return [{c.key: getattr(o, c.key) for c in model.__table__.columns} for o in rows]

    def delete(self, model: type[Any], key: str) -> bool:
        with self.store.session() as s:
            obj = s.get(model, key)
            if obj is None:
                return False
            s.delete(obj)
            return True


@retry_public_methods
class DatastoreRepository(Repository):
    """Registered datastores: name, url, definition, and which one is the default."""

    def put(self, name: str, url: str, definition: dict[str, Any],
            *, is_default: bool = False) -> None:
        self.store.records.put(m.DatastoreRecord, name, url=url, definition=definition)
        if is_default:
            self.set_default(name)

    def get(self, name: str) -> dict[str, Any] | None:
        return self.store.records.get(m.DatastoreRecord, name)

    def list(self) -> list[dict[str, Any]]:
        return self.store.records.list(m.DatastoreRecord)

    def delete(self, name: str) -> bool:
        return self.store.records.delete(m.DatastoreRecord, name)

    def set_default(self, name: str) -> None:
        with self.store.session() as s:
            s.execute(update(m.DatastoreRecord).values(is_default=False))
            s.execute(update(m.DatastoreRecord).where(m.DatastoreRecord.name == name)
                      .values(is_default=True))

    def default(self, fallback: str) -> dict[str, Any] | None:
        """The default datastore's record (name, url, definition), else the record named
        ``fallback`` (the configured default), in one read; None if neither is recorded."""
        with self.store._driver(write=False) as conn:   # it is read for every run
            return self.store.sql.get("default_datastore", hot.default_datastore).first(
                conn, {"fallback": fallback})

    def default_name(self) -> str | None:
        with self.store.reading() as s:
            return s.scalar(select(m.DatastoreRecord.name)
                            .where(m.DatastoreRecord.is_default.is_(True)))


@retry_public_methods
class ComputeRepository(Repository):
    """Compute targets: their configuration, their manager's state, node-count samples."""

    def put(self, name: str, **values: Any) -> None:
        values.setdefault("updated_at", _now())
        self.store.records.put(m.ComputeTargetRecord, name, **values)

    def get(self, name: str) -> dict[str, Any] | None:
        return self.store.records.get(m.ComputeTargetRecord, name)

    def delete(self, name: str) -> bool:
        return self.store.records.delete(m.ComputeTargetRecord, name)

    def merge_state(self, name: str, **state: Any) -> dict[str, Any]:
        """Merge ``state`` into the target's state; returns the result ({} if no target)."""
        with self.store.session() as s:
            obj = s.get(m.ComputeTargetRecord, name, with_for_update=True)
            if obj is None:
                return {}
            obj.state = {**(obj.state or {}), **state}
            obj.updated_at = _now()
            return dict(obj.state)

    def add_sample(self, name: str, observed: dict[str, Any], at: float | None = None) -> None:
        """Record the target's node counts now; samples older than a week are dropped."""
        now = time.time() if at is None else at
        with self.store.session() as s:
            s.add(m.ComputeSample(
                target=name, time=now, nodes=int(observed.get("current_node_count") or 0),
                target_nodes=int(observed.get("target_node_count") or 0),
                queued_runs=int(observed.get("queued_runs") or 0),
                running_runs=int(observed.get("running_runs") or 0),
                node_states=dict(observed.get("node_state_counts") or {})))
            s.execute(delete(m.ComputeSample).where(m.ComputeSample.target == name,
                                                    m.ComputeSample.time < now - SAMPLE_KEEP))

    def samples(self, name: str, since: float = 0.0, limit: int = 5000) -> list[dict[str, Any]]:
        """The target's samples after ``since`` (epoch seconds), oldest first."""
        cols = ("time", "nodes", "target_nodes", "queued_runs", "running_runs", "node_states")
        with self.store.reading() as s:
            rows = s.execute(select(*(getattr(m.ComputeSample, c) for c in cols))
                             .where(m.ComputeSample.target == name,
                                    m.ComputeSample.time > since)
                             .order_by(m.ComputeSample.time.desc()).limit(limit)).all()
        return [dict(zip(cols, row, strict=True)) for row in reversed(rows)]

    def list(self) -> list[dict[str, Any]]:   # last: below it, ``list`` would name this method
        return self.store.records.list(m.ComputeTargetRecord)


__all__ = ["SAMPLE_KEEP", "ComputeRepository", "DatastoreRepository", "RecordRepository"]
