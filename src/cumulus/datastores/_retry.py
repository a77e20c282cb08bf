"""Retrying as a layer: wrap one transfer, retry transient errors with backoff.

Example::

    stat = await aretry(lambda: backend.aput(fs, l, r, n, cb), transient=backend.is_transient)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
ATTEMPTS = 3
DELAY = 0.25


async def aretry(fn: Callable[[], Awaitable[T]], *, transient: Callable[[BaseException], bool],
                 attempts: int = ATTEMPTS, delay: float = DELAY) -> T:
    for attempt in range(1, attempts + 1):
        try:
            return await fn()
        except Exception as exc:
            if attempt == attempts or not transient(exc):
                raise
            await asyncio.sleep(delay * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


def retry(fn: Callable[[], T], *, transient: Callable[[BaseException], bool],
          attempts: int = ATTEMPTS, delay: float = DELAY) -> T:
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if attempt == attempts or not transient(exc):
                raise
            time.sleep(delay * 2 ** (attempt - 1))
    raise AssertionError("unreachable")
