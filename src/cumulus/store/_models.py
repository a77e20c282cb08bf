"""The model registry's repository: versions of registered models and the services that use
them. Records go out as plain dicts (the table's columns); no session leaves the store."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from cumulus.errors import StoreError
from cumulus.store import models as m
from cumulus.store._repository import Repository
from cumulus.store._retry import retry_public_methods

ATTEMPTS = 5


def _as_dict(rec: m.ModelRecord) -> dict[str, Any]:
    return {c.key: getattr(rec, c.key) for c in m.ModelRecord.__table__.columns}


@retry_public_methods
class ModelRepository(Repository):
    """Rows of ``models`` (and the lineage property on runs)."""

    def insert(self, name: str, **values: Any) -> dict[str, Any]:
        """A new version of ``name`` (the next number, retried when another process took it)."""
        for _ in range(ATTEMPTS):
            try:
                with self.store.session() as s:
                    latest = s.scalar(select(func.max(m.ModelRecord.version))
                                      .where(m.ModelRecord.name == name))
                    rec = m.ModelRecord(name=name, version=(latest or 0) + 1, **values)
                    s.add(rec)
                    s.flush()
                    return _as_dict(rec)
            except IntegrityError:
                continue
        raise StoreError(f"Could not allocate a version for model {name!r}; retry.")

    def get(self, name: str, version: int | None = None) -> dict[str, Any] | None:
        """A version (the latest when ``version`` is None), or None."""
        q = select(m.ModelRecord).where(m.ModelRecord.name == name)
        q = (q.where(m.ModelRecord.version == int(version)) if version is not None
             else q.order_by(m.ModelRecord.version.desc()).limit(1))
        with self.store.reading() as s:
            rec = s.scalar(q)
            return None if rec is None else _as_dict(rec)

    def names(self) -> list[str]:
        with self.store.reading() as s:
            return sorted(set(s.scalars(select(m.ModelRecord.name)).all()))

    def versions(self, name: str) -> list[int]:
        with self.store.reading() as s:
            return sorted(s.scalars(select(m.ModelRecord.version)
                                    .where(m.ModelRecord.name == name)).all())

    def query(self, name: str | None = None, run_id: str | None = None) -> list[dict[str, Any]]:
        """Versions by name, newest version first."""
        q = select(m.ModelRecord)
        if name is not None:
            q = q.where(m.ModelRecord.name == name)
        if run_id is not None:
            q = q.where(m.ModelRecord.run_id == run_id)
        q = q.order_by(m.ModelRecord.name, m.ModelRecord.version.desc())
        with self.store.reading() as s:
            return [_as_dict(r) for r in s.scalars(q).all()]

    def update(self, name: str, version: int, **values: Any) -> bool:
        """Set columns of one version; False when it does not exist."""
        with self.store.session() as s:
            rec = s.scalar(select(m.ModelRecord).where(m.ModelRecord.name == name,
                                                       m.ModelRecord.version == version))
            if rec is None:
                return False
            for k, v in values.items():
                setattr(rec, k, v)
            return True

    def delete(self, name: str, version: int) -> tuple[bool, int]:
        """Delete one version: (whether it existed, how many other versions share its
        stored content)."""
        with self.store.session() as s:
            rec = s.scalar(select(m.ModelRecord).where(m.ModelRecord.name == name,
                                                       m.ModelRecord.version == version))
            if rec is None:
                return False, 0
            s.delete(rec)
            shared = s.scalar(select(func.count()).select_from(m.ModelRecord).where(
                m.ModelRecord.location == rec.location, m.ModelRecord.id != rec.id))
            return True, int(shared or 0)

    def append_run_property(self, run_id: str, key: str, value: Any) -> None:
        """Lineage on the run side: append ``value`` to the run's list property ``key``."""
        with self.store.session() as s:
            run = s.get(m.Run, run_id, with_for_update=True)
            if run is None:
                return
            props = dict(run.properties or {})
            props[key] = [*props.get(key, []), value]
            run.properties = props

    def service_models(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """(service name, the model versions it serves) of every service."""
        with self.store.reading() as s:
            rows = s.execute(select(m.ServiceRecord.name, m.ServiceRecord.models)).all()
        return [(str(n), list(models or [])) for n, models in rows]


@retry_public_methods
class ServiceRepository(Repository):
    """Rows of ``services`` (deployed scoring services)."""

    def create(self, name: str, **values: Any) -> bool:
        """Record a new service; False when one of that name exists already."""
        try:
            with self.store.session() as s:
                s.add(m.ServiceRecord(name=name, **values))
            return True
        except IntegrityError:
            return False

    def update(self, name: str, **values: Any) -> bool:
        """Set columns of a service; False when it does not exist."""
        with self.store.session() as s:
            rec = s.get(m.ServiceRecord, name, with_for_update=True)
            if rec is None:
                return False
            for k, v in values.items():
                setattr(rec, k, v)
            return True

    def states(self) -> list[tuple[str, dict[str, Any]]]:
        """(name, state) of every service."""
        with self.store.reading() as s:
            rows = s.execute(select(m.ServiceRecord.name, m.ServiceRecord.state)).all()
        return [(str(n), dict(st or {})) for n, st in rows]


__all__ = ["ModelRepository", "ServiceRepository"]


@retry_public_methods
class QuotaRepository(Repository):
    """Rows of ``quotas``: scope (a target's name, or ``*`` for the workspace) -> limits."""

    def set(self, scope: str, **limits: Any) -> None:
        """Create or replace the limits of ``scope`` (``runs``, ``nodes``, ``gpus``)."""
        from cumulus.store.models import utcnow

        with self.store.session() as s:
            rec = s.get(m.QuotaRecord, scope, with_for_update=True)
            if rec is None:
                rec = m.QuotaRecord(scope=scope)
                s.add(rec)
            for key in ("runs", "nodes", "gpus"):
                setattr(rec, key, limits.get(key))
            rec.updated_at = utcnow()

    def all(self) -> dict[str, dict[str, Any]]:
        """scope -> {runs, nodes, gpus} of every quota."""
        with self.store.reading() as s:
            rows = s.scalars(select(m.QuotaRecord)).all()
        return {r.scope: {"runs": r.runs, "nodes": r.nodes, "gpus": r.gpus} for r in rows}

    def delete(self, scope: str) -> bool:
        """Remove the quota of ``scope``; False when it had none."""
        with self.store.session() as s:
            rec = s.get(m.QuotaRecord, scope)
            if rec is None:
                return False
            s.delete(rec)
            return True
