"""One repository for named, versioned documents (environments, datasets).

Registering content equal to the latest version returns that version; otherwise the next
version number is taken in one transaction, retried when another process took it first.
Callers get :class:`VersionedRecord` values, never sessions or ORM objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from cumulus.errors import StoreError
from cumulus.store import models as m

if TYPE_CHECKING:
    from cumulus.store._store import Store

VersionedModel = type[m.EnvironmentRecord] | type[m.DatasetRecord]
ATTEMPTS = 5


@dataclass(frozen=True)
class VersionedRecord:
    name: str
    version: int
    hash: str
    definition: dict[str, Any]
    created_at: datetime


def _record(row: Any) -> VersionedRecord:
    return VersionedRecord(row.name, row.version, row.hash, dict(row.definition or {}),
                           row.created_at)


class VersionedRepository:
    """Named, versioned documents in one table of the store."""

    def __init__(self, store: Store, model: VersionedModel, what: str) -> None:
        self.store, self.model, self.what = store, model, what

    def register(self, name: str, digest: str, definition: dict[str, Any]) -> VersionedRecord:
        """The latest version if its hash is ``digest``, else a new version holding
        ``definition`` (with ``version`` filled in)."""
        R: Any = self.model
        for _ in range(ATTEMPTS):
            try:
                with self.store.session() as s:
                    latest = s.scalars(select(R).where(R.name == name)
                                       .order_by(R.version.desc()).limit(1)).first()
                    if latest is not None and latest.hash == digest:
                        return _record(latest)
                    version = (s.scalar(select(func.max(R.version)).where(R.name == name))
                               or 0) + 1
                    row = R(name=name, version=version, hash=digest,
                            definition={**definition, "version": version})
                    s.add(row)
                    s.flush()
                    return _record(row)
            except IntegrityError:  # another process took this version number: look again
                continue
        raise StoreError(f"{self.what} {name!r} could not be registered: too many concurrent "
                         "registrations of the same name; try again.")

    def get(self, name: str, version: int | None = None) -> VersionedRecord | None:
        R: Any = self.model
        with self.store.reading() as s:
            q = select(R).where(R.name == name)
            q = q.where(R.version == version) if version else q.order_by(R.version.desc())
            row = s.scalars(q.limit(1)).first()
            return None if row is None else _record(row)

    def version_numbers(self, name: str) -> list[int]:
        R: Any = self.model
        with self.store.reading() as s:
            return sorted(s.scalars(select(R.version).where(R.name == name)).all())

    def names(self) -> list[str]:
        R: Any = self.model
        with self.store.reading() as s:
            return sorted(set(s.scalars(select(R.name)).all()))

    def list(self, name: str | None = None) -> list[VersionedRecord]:
        R: Any = self.model
        q = select(R).order_by(R.name, R.version)
        if name is not None:
            q = q.where(R.name == name)
        with self.store.reading() as s:
            return [_record(r) for r in s.scalars(q).all()]
