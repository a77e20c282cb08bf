"""Cancelling runs: queued runs end at once; running ones are stopped by their executor."""

from __future__ import annotations

from typing import Any

from cumulus.store.status import TERMINAL, RunStatus


def cancel_run(store: Any, run_id: str, reason: str = "canceled by user") -> str:
    """Request cancellation of ``run_id`` and its active descendants; returns its new status."""
    for child in reversed(store.children(run_id, recursive=True)):
        _cancel_one(store, child["id"], reason)
    return _cancel_one(store, run_id, reason)


def _cancel_one(store: Any, run_id: str, reason: str) -> str:
    status = RunStatus(store.get_status(run_id))
    if status in TERMINAL:
        return status.value
    if status in (RunStatus.QUEUED, RunStatus.NOT_STARTED) and store.try_transition(
            run_id, RunStatus.CANCELED, reason=reason, expected=[status]):
        return RunStatus.CANCELED.value
    if status is RunStatus.CANCEL_REQUESTED:
        return status.value
    store.try_transition(run_id, RunStatus.CANCEL_REQUESTED, reason=reason)
    return store.get_status(run_id)
