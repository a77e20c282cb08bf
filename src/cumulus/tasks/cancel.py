"""Cancelling runs: queued runs end at once; running ones are stopped by their executor.

The request is recorded in the store first (every executor checks it every 0.5 s); where the
caller holds a client of the runs' cluster it is also pushed to the executors and to the
waiters of the runs (:mod:`cumulus.tasks.events`), which act on it within milliseconds.
"""

from __future__ import annotations

from typing import Any

from cumulus.store.status import TERMINAL, RunStatus
from cumulus.tasks.events import announce_cancel


def cancel_run(store: Any, run_id: str, reason: str = "canceled by user",
               client: Any = None) -> str:
    """Request cancellation of ``run_id`` and its active descendants; returns its new status.
    ``client``: a connected client of the runs' cluster to push the request through."""
    touched: list[str] = []
    for child in reversed(store.children(run_id, recursive=True)):
        _cancel_one(store, child["id"], reason, touched)
    status = _cancel_one(store, run_id, reason, touched)
    announce_cancel(client, touched)
    return status


def _cancel_one(store: Any, run_id: str, reason: str, touched: list[str]) -> str:
    status = RunStatus(store.get_status(run_id))
    if status in TERMINAL:
        return status.value
    touched.append(run_id)
    if status in (RunStatus.QUEUED, RunStatus.NOT_STARTED) and store.try_transition(
            run_id, RunStatus.CANCELED, reason=reason, expected=[status]):
        return RunStatus.CANCELED.value
    if status is RunStatus.CANCEL_REQUESTED:
        return status.value
    store.try_transition(run_id, RunStatus.CANCEL_REQUESTED, reason=reason)
    return store.get_status(run_id)
