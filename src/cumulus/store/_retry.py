"""Riding out store outages: a store call that fails because the database cannot be reached
(PostgreSQL restarted or cut off, SQLite's file briefly unwritable) is retried with backoff
for up to ``CUMULUS_STORE_OUTAGE_SECONDS`` (default 300 s); then it fails with a StoreError
that names the store and the error, never a raw driver exception.

So a run whose node loses the store for a few seconds keeps running: its log lines and
metrics wait in memory and are written when the store is back, and a client waiting on it
keeps waiting.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError

from cumulus.errors import StoreError

log = logging.getLogger("cumulus.store")
T = TypeVar("T")
#: messages of errors that no retry fixes (a schema problem, not an outage)
PERMANENT = ("no such table", "no such column", "syntax error", "does not exist",
             "duplicate", "violates", "unique constraint")


def outage_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get("CUMULUS_STORE_OUTAGE_SECONDS", "300")))
    except ValueError:
        return 300.0


def transient(exc: BaseException) -> bool:
    """True for errors that mean 'the database cannot be reached now'."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError):
        return False
    text = str(exc.orig if exc.orig is not None else exc).lower()
    return not any(p in text for p in PERMANENT)


def retrying(fn: Callable[..., T]) -> Callable[..., T]:
    """Wrap a store method so that transient failures are retried (see module docs).

    The first call costs nothing extra; only after a transient failure does ``tenacity``
    take over (exponential backoff from 0.1 s to 3 s, until the outage budget is spent).
    """

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> T:
        try:
            return fn(self, *args, **kwargs)
        except (OperationalError, DBAPIError) as exc:
            if not transient(exc):
                raise
            log.warning("store unreachable in %s (%s); retrying for up to %.0f s",
                        fn.__name__, _first_line(exc), outage_seconds())
        return _ride_out(fn, self, args, kwargs)

    return wrapper


def _ride_out(fn: Callable[..., T], store: Any, args: Any, kwargs: Any) -> T:
    import tenacity

    budget = outage_seconds()
    retry = tenacity.Retrying(
        retry=tenacity.retry_if_exception(
            lambda e: isinstance(e, (OperationalError, DBAPIError)) and transient(e)),
        stop=tenacity.stop_after_delay(budget),
        wait=tenacity.wait_exponential(multiplier=0.1, max=3.0),
        sleep=time.sleep, reraise=True)
    try:
        return retry(fn, store, *args, **kwargs)
    except (OperationalError, DBAPIError) as exc:
        if not transient(exc):
            raise
        raise StoreError(
            f"The store at {_safe_url(store)} did not answer for {budget:.0f} s "
            f"({fn.__name__}: {_first_line(exc)}). Check that the database is up and "
            f"reachable; CUMULUS_STORE_OUTAGE_SECONDS sets how long to wait.") from None


def retry_public_methods(cls: type[T]) -> type[T]:
    """Apply :func:`retrying` to every public method of ``cls`` (not its context managers,
    whose bodies belong to the caller)."""
    for name, value in list(vars(cls).items()):
        if name.startswith("_") or name in ("session", "reading"):
            continue
        if inspect.isfunction(value):
            setattr(cls, name, retrying(value))
    return cls


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _safe_url(store: Any) -> str:
    try:
        return str(store.engine.url.render_as_string(hide_password=True))
    except Exception:
        return "(store)"
