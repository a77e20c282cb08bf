"""The store's hottest statements, compiled once per dialect and executed on the DBAPI cursor.

SQLAlchemy Core builds, cache-keys, compiles and wraps every statement at every call: about
80 us of CPU per statement, on top of the 5-10 us SQLite itself needs. A run's life (submit,
claim, Running, finish, and the status reads of whoever waits) executes about a dozen of them,
on every node and client, so a trivial run spent 2 ms of CPU in the store before this module.

Statements here are still Core, written against the models' tables, so the SQL is what the
dialect generates. Only their execution is direct: compiled once, their parameters converted
with each column type's own bind processor and their rows with its result processor, so the
values written and read are exactly what Core writes and reads. Driver errors are wrapped into
SQLAlchemy's exceptions as Core wraps them (and a lost connection is invalidated), so the
store's retry on outages (``_retry.py``) works unchanged.

Example::

    sql = Statements(engine.dialect)
    status = sql.get("status", lambda: select(runs.c.status).where(runs.c.id == bindparam("id")))
    with engine.begin() as conn:
        row = status.first(conn, {"id": run_id})
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.expression import ClauseElement

Processor = Callable[[Any], Any] | None


class Compiled:
    """One statement compiled for ``dialect``, with the processors of its parameters and of
    the columns it returns."""

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled: Any = statement.compile(dialect=dialect)   # an SQLCompiler
        self.sql = compiled.string
        self.positional = bool(compiled.positional)
        names = list(compiled.positiontup or ()) if self.positional else list(compiled.binds)
        # (name, the dialect's bind processor of its type, the value a literal was given)
        self.binds: list[tuple[str, Processor, Any]] = []
        for name in names:
            bind = compiled.binds[name]
            self.binds.append((name, bind.type.dialect_impl(dialect).bind_processor(dialect),
                               _REQUIRED if bind.required else bind.value))
        # what a SELECT selects, or what an INSERT ... RETURNING returns
        columns = list(getattr(statement, "exported_columns", None) or ())
        self.keys = [c.key for c in columns]
        self.results: list[Processor] = [
            c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns]

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        if self.positional:
            return tuple(_bind(values, n, p, v) for n, p, v in self.binds)
        return {n: _bind(values, n, p, v) for n, p, v in self.binds}

    def execute(self, conn: Connection, values: Mapping[str, Any]) -> Any:
        """Execute in ``conn``'s transaction; returns the DBAPI cursor (close it, or use
        :meth:`rowcount`, :meth:`first`, :meth:`all`)."""
        cursor = conn.connection.cursor()
        try:
            cursor.execute(self.sql, self.parameters(values))
        except conn.dialect.loaded_dbapi.Error as exc:
            cursor.close()
            reraise(conn, self.sql, exc)
        return cursor

    def rowcount(self, conn: Connection, values: Mapping[str, Any]) -> int:
        cursor = self.execute(conn, values)
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def first(self, conn: Connection, values: Mapping[str, Any]) -> dict[str, Any] | None:
        cursor = self.execute(conn, values)
        try:
            row = cursor.fetchone()
        finally:
            cursor.close()
        return None if row is None else self._record(row)

    def all(self, conn: Connection, values: Mapping[str, Any]) -> list[dict[str, Any]]:
        cursor = self.execute(conn, values)
        try:
            rows = cursor.fetchall()
        finally:
            cursor.close()
        return [self._record(row) for row in rows]

    def _record(self, row: Any) -> dict[str, Any]:
        return {k: v if p is None else p(v)
                for k, p, v in zip(self.keys, self.results, row, strict=True)}


_REQUIRED = object()


def _bind(values: Mapping[str, Any], name: str, processor: Processor, literal: Any) -> Any:
    if name in values:
        value = values[name]
    elif literal is _REQUIRED:
        raise KeyError(f"statement parameter {name!r} not given")
    else:
        value = literal           # a literal of the statement (LIMIT 1 and the like)
    return value if processor is None else processor(value)


class Statements:
    """The compiled statements of one engine, built on first use."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.cache: dict[Any, Compiled] = {}

    def get(self, key: Any, build: Callable[[], ClauseElement]) -> Compiled:
        compiled = self.cache.get(key)
        if compiled is None:
            compiled = self.cache[key] = Compiled(build(), self.dialect)
        return compiled


_by_dialect: weakref.WeakKeyDictionary[Dialect, Statements] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def statements_for(dialect: Dialect) -> Statements:
    """The compiled statements of an engine's dialect, shared by every Store on that engine
    (a node opens a Store per run: each compiling anew would cost more than it saves)."""
    with _lock:
        found = _by_dialect.get(dialect)
        if found is None:
            found = _by_dialect[dialect] = Statements(dialect)
        return found


def reraise(conn: Connection, sql: str, exc: Exception) -> NoReturn:
    """Raise ``exc`` as Core would: the matching ``sqlalchemy.exc`` class, and a connection
    the driver lost is invalidated so that the pool opens a new one."""
    dialect = conn.dialect
    error: Any = exc
    invalidated = bool(dialect.is_disconnect(error, conn.connection.dbapi_connection, None))
    if invalidated:
        conn.invalidate(exc)
    raise DBAPIError.instance(sql, None, exc, dialect.loaded_dbapi.Error,
                              connection_invalidated=invalidated, dialect=dialect) from exc


__all__ = ["Compiled", "Statements", "reraise", "statements_for"]
