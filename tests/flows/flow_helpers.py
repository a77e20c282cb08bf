"""Helpers shared by the pipeline tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest


def wait_until(check: Callable[[], Any], timeout: float = 120, interval: float = 0.2,
               what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` (a guard)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def put_text(ds: Any, path: str, text: str) -> None:
    """Write ``text`` to ``path`` on datastore ``ds``."""
    with ds.fs.open(ds.full_path(path), "w") as fh:
        fh.write(text)


def read_text(ds: Any, path: str) -> str:
    with ds.fs.open(ds.full_path(path), "r") as fh:
        return str(fh.read())


def prefect_post(url: str, body: dict[str, Any]) -> Any:
    """POST to Prefect's REST API as its own client does: a busy server's 503 is retried."""
    import httpx

    for attempt in range(8):
        resp = httpx.post(url, json=body, timeout=30)
        if resp.status_code != 503:
            break
        time.sleep(0.5 * (attempt + 1))
    return resp
