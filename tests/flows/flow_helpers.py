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


def prefect_request(method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    """A call to Prefect's REST API as its own client makes it: a busy server's 503 (its
    database locked under load) is retried."""
    import httpx

    for attempt in range(8):
        resp = httpx.request(method, url, json=body, timeout=30)
        if resp.status_code != 503:
            break
        time.sleep(0.5 * (attempt + 1))
    return resp


def prefect_post(url: str, body: dict[str, Any]) -> Any:
    return prefect_request("POST", url, body)


def prefect_get(url: str) -> Any:
    """GET one object from Prefect's REST API (its JSON), retrying a busy server's 503."""
    return prefect_request("GET", url).json()
