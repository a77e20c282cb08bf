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

    sql = statements_for(engine.dialect)
    status = sql.get("status", lambda: select(runs.c.status).where(runs.c.id == bindparam("id")))
    with driver_connection(engine, write=False) as conn:
        row = status.first(conn, {"id": run_id})
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any, NoReturn

from sqlalchemy import Float
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.expression import ClauseElement

Processor = Callable[[Any], Any] | None


class Compiled:
    """One statement compiled for ``dialect``, with the processors of its parameters and of
    the columns it returns."""

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled: Any = statement.compile(dialect=dialect)   # an SQLCompiler
        self.dialect = dialect
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
        self.results: list[Processor] = [_result_processor(c.type, dialect) for c in columns]

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        if self.positional:
            return tuple(_bind(values, n, p, v) for n, p, v in self.binds)
        return {n: _bind(values, n, p, v) for n, p, v in self.binds}

    def execute(self, conn: Any, values: Mapping[str, Any]) -> Any:
        """Execute on ``conn``, a pooled driver connection (:func:`driver_connection`);
        returns the DBAPI cursor (close it, or use :meth:`rowcount`, :meth:`first`,
        :meth:`all`)."""
        cursor = conn.cursor()
        try:
            cursor.execute(self.sql, self.parameters(values))
        except self.dialect.loaded_dbapi.Error as exc:
            cursor.close()
            reraise(self.dialect, conn.dbapi_connection, conn.invalidate, self.sql, exc)
        return cursor

    def rowcount(self, conn: Any, values: Mapping[str, Any]) -> int:
        cursor = self.execute(conn, values)
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def first(self, conn: Any, values: Mapping[str, Any]) -> dict[str, Any] | None:
        cursor = self.execute(conn, values)
        try:
            row = cursor.fetchone()
        finally:
            cursor.close()
        return None if row is None else self._record(row)

    def all(self, conn: Any, values: Mapping[str, Any]) -> list[dict[str, Any]]:
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


def _result_processor(type_: Any, dialect: Dialect) -> Processor:
    """The dialect's result processor of a column type, known before any row arrives. A
    float column's depends on the type code the driver reports (psycopg asks for it, and
    returns a double precision column's values as floats already): none is needed."""
    if isinstance(type_, Float):
        return None
    return type_.dialect_impl(dialect).result_processor(dialect, None)


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


@contextmanager
def driver_connection(engine: Engine, *, write: bool) -> Iterator[Any]:
    """A pooled driver connection for compiled statements (cheaper than a Core Connection).

    ``write``: one transaction, committed on success and rolled back on error; on SQLite it
    begins IMMEDIATE, so a writer takes the write lock up front and never deadlocks upgrading
    a read lock. Otherwise no transaction is begun: a single statement reads a consistent
    snapshot, and PostgreSQL's implicit one is rolled back when the connection returns to
    the pool.
    """
    dialect = engine.dialect
    error = dialect.loaded_dbapi.Error
    try:
        conn = engine.raw_connection()
    except error as exc:      # the database cannot be reached: an OperationalError, retried
        raise DBAPIError.instance(None, None, exc, error, dialect=dialect) from exc
    try:
        if write and dialect.name == "sqlite":
            _run(conn, dialect, "BEGIN IMMEDIATE")
        yield conn
        if write:
            try:
                conn.commit()
            except error as exc:
                reraise(dialect, conn.dbapi_connection, conn.invalidate, "COMMIT", exc)
    except BaseException:
        with suppress(Exception):     # an invalidated connection has nothing to roll back
            conn.rollback()
        raise
    finally:
        conn.close()


def _run(conn: Any, dialect: Dialect, sql: str) -> None:
    cursor = conn.cursor()
    try:
        cursor.execute(sql)
    except dialect.loaded_dbapi.Error as exc:
        reraise(dialect, conn.dbapi_connection, conn.invalidate, sql, exc)
    finally:
        cursor.close()


def reraise(dialect: Dialect, dbapi_connection: Any, invalidate: Callable[[Any], Any],
            sql: str, exc: Exception) -> NoReturn:
    """Raise ``exc`` as Core would: the matching ``sqlalchemy.exc`` class, and a connection
    the driver lost is invalidated (``invalidate``) so that the pool opens a new one."""
    error: Any = exc
    invalidated = bool(dialect.is_disconnect(error, dbapi_connection, None))
    if invalidated:
        invalidate(exc)
    raise DBAPIError.instance(sql, None, exc, dialect.loaded_dbapi.Error,
                              connection_invalidated=invalidated, dialect=dialect) from exc


__all__ = ["Compiled", "Statements", "driver_connection", "reraise", "statements_for"]
