"""Queueing a run as a Dask task: one place for the key, annotations and fire-and-forget.

The task is ``execute_run(run_id, ws_payload, max_attempts)`` under the key
``cumulus-run-<id>``, annotated ``cumulus={request, store, run}`` so that the cumulus scheduler
plugin holds it until a node has room for ``request``. A future gang submission would add a
``group`` (its id and size) to the same annotation.

Example::

    submit_run_task(client, run_id, ws.payload(), 3, {"cpus": 1}, ws.store_url)
"""

from __future__ import annotations

import time
from typing import Any

from cumulus.compute._base import ANNOTATION, run_key
from cumulus.errors import ComputeError

CONFIRM_TIMEOUT = 30.0


def run_annotation(run_id: str, request: dict[str, float], store_url: str,
                   group: str | None = None, priority: int | None = None) -> dict[str, Any]:
    """What the scheduler plugin needs of a run task: its request, store, run id,
    fair-share group and priority."""
    return {"request": dict(request), "store": store_url, "run": run_id,
            "group": group or run_id, "priority": int(priority or 0)}


def submit_run_task(client: Any, run_id: str, ws_payload: dict[str, Any], max_attempts: int,
                    request: dict[str, float], store_url: str,
                    group: str | None = None, priority: int | None = None) -> None:
    """Queue run ``run_id`` on the cluster behind ``client``; returns at once."""
    import dask
    from distributed import fire_and_forget

    from cumulus.tasks.executor import execute_run

    key = run_key(run_id)
    with dask.annotate(**{ANNOTATION: run_annotation(run_id, request, store_url, group,
                                                     priority)}):
        future = client.submit(execute_run, run_id, ws_payload, max_attempts, key=key,
                               pure=False, retries=0)
    fire_and_forget(future)
    confirm(client, key)
    del future


def confirm(client: Any, key: str, timeout: float = CONFIRM_TIMEOUT) -> None:
    """Wait until the scheduler holds ``key`` for good. Submissions travel on a batched
    stream; without this, a process that exits right after submitting could lose runs."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        known = client.sync(client.scheduler.cumulus_known, keys=[key])
        if known is None or known:      # None: a manager older than this handler
            return
        if time.monotonic() > deadline:
            raise ComputeError(
                f"The scheduler at {client.scheduler.address} did not receive run task {key} "
                f"within {timeout:.0f} s; the run was not queued. Check the compute target "
                "with `cumulus compute status`.")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
