"""Retrying as a layer: wrap one transfer, retry transient errors with backoff (tenacity).

Example::

    stat = await aretry(lambda: backend.aput(fs, l, r, n, cb), transient=backend.is_transient)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")
ATTEMPTS = 3
DELAY = 0.25


def _policy(transient: Callable[[BaseException], bool], attempts: int,
            delay: float) -> dict[str, Any]:
    import tenacity

    return {"retry": tenacity.retry_if_exception(transient),
            "stop": tenacity.stop_after_attempt(attempts),
            "wait": tenacity.wait_exponential(multiplier=delay, min=delay),
            "reraise": True}


async def aretry(fn: Callable[[], Awaitable[T]], *, transient: Callable[[BaseException], bool],
                 attempts: int = ATTEMPTS, delay: float = DELAY) -> T:
    """``await fn()``, again after a transient error (``delay``, then doubling), at most
    ``attempts`` times; the last error is raised as it was. The first try costs nothing
    extra: tenacity takes over after a transient failure."""
    import asyncio

    try:
        return await fn()
    except Exception as exc:
        if attempts <= 1 or not transient(exc):
            raise
    await asyncio.sleep(delay)
    import tenacity

    result: T = await tenacity.AsyncRetrying(**_policy(transient, attempts - 1, delay * 2))(fn)
    return result


def retry(fn: Callable[[], T], *, transient: Callable[[BaseException], bool],
          attempts: int = ATTEMPTS, delay: float = DELAY) -> T:
    """``fn()``, again after a transient error; see :func:`aretry`."""
    import time

    try:
        return fn()
    except Exception as exc:
        if attempts <= 1 or not transient(exc):
            raise
    time.sleep(delay)
    import tenacity

    return tenacity.Retrying(**_policy(transient, attempts - 1, delay * 2))(fn)
