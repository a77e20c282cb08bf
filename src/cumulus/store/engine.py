"""Engines for the store: SQLite in WAL mode by default, PostgreSQL by URL.

Migrations are applied on open, once per process and URL, under a lock so that many processes
opening a new store at once do not race.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.pool import NullPool

from cumulus.errors import StoreError
from cumulus.store._compiled import reraise

MIGRATIONS = Path(__file__).with_name("migrations")
HEAD_REVISION = "0006"
READONLY = "cumulus_readonly"  # execution option marking read-only transactions

_engines: dict[tuple[int, str], Engine] = {}
_lock = threading.Lock()


def normalize_url(url: str) -> str:
    """Map plain ``postgresql://`` URLs onto the psycopg 3 driver."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def get_engine(url: str) -> Engine:
    """One engine per process and URL, migrated to the newest schema."""
    key = (os.getpid(), url)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _create(url)
            _migrate(engine)
            _engines[key] = engine
        return engine


def _create(url: str) -> Engine:
    try:
        parsed = make_url(normalize_url(url))
    except ArgumentError as exc:
        raise StoreError(
            f"Store URL {url!r} cannot be parsed ({exc}). Use 'sqlite:///path/to/store.db' or "
            "'postgresql://user@host:5432/dbname'."
        ) from None
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["poolclass"] = NullPool if parsed.database in (None, "", ":memory:") else None
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        kwargs["connect_args"] = {"timeout": 60, "check_same_thread": False}
    else:
        kwargs.update(pool_pre_ping=True, pool_size=5, max_overflow=10)
    try:
        engine = create_engine(parsed, **kwargs)
    except (NoSuchModuleError, ImportError) as exc:
        hint = " Install it with: pip install 'cumulus-ml[postgres]'" if "postgres" in str(
            parsed.drivername) else ""
        raise StoreError(f"No database driver for store URL {url!r}: {exc}.{hint}") from None
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock up front (IMMEDIATE: no deadlock upgrading a read lock
        # later); readers use a deferred BEGIN, which in WAL mode never waits for a writer.
        # On the driver's connection: this runs for every store transaction, and Core's
        # statement path costs more than SQLite's BEGIN itself.
        sql = "BEGIN" if conn.get_execution_options().get(READONLY) else "BEGIN IMMEDIATE"
        try:
            conn.connection.dbapi_connection.execute(sql)
        except conn.dialect.loaded_dbapi.Error as exc:    # locked past busy_timeout, ...
            reraise(conn.dialect, conn.connection.dbapi_connection, conn.invalidate, sql, exc)


def _current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except OperationalError as exc:
        if _unreachable(exc):
            raise StoreError(
                f"Cannot reach the store at {engine.url.render_as_string(hide_password=True)}: "
                f"{str(exc.orig).strip().splitlines()[0]}. Check that the database server is "
                "running and the URL in cumulus.yaml (key 'store') is right."
            ) from None
        return None
    except Exception:
        return None


def _unreachable(exc: OperationalError) -> bool:
    msg = str(exc.orig).lower()
    return any(s in msg for s in ("connection", "could not", "unable to open", "timeout",
                                  "password", "does not exist", "refused"))


def _migrate(engine: Engine) -> None:
    if _current_revision(engine) == HEAD_REVISION:
        return
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with _migration_lock(engine) as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


@contextmanager
def _migration_lock(engine: Engine):
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(727274)"))
            conn.commit()
            try:
                yield conn
                conn.commit()
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(727274)"))
                conn.commit()
        return
    from contextlib import nullcontext

    from cumulus._procs import file_lock

    db = engine.url.database or ""
    lock = file_lock(Path(db + ".lock")) if db and db != ":memory:" else nullcontext()
    with lock, engine.connect() as conn:
        yield conn
        conn.commit()


def dispose_all() -> None:
    """Drop this process's engines (after fork, or in tests)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
