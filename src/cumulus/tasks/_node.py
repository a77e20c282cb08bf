"""The node process's side of a run task: the workspace its payload names, built once per
process, and the node's messages to the scheduler sent at once."""

from __future__ import annotations

import json
import threading
from typing import Any

__all__ = ["ROOM_TOPIC", "give_back_room", "payload_text", "prompt_reports", "workspace_of"]

REPORT_INTERVAL = 0.001   # seconds a node batches its messages to the scheduler
#: the Dask event topic on which a node gives a run's room back before its task returns (the
#: cumulus scheduler plugin listens; without it the event is only kept in the event log)
ROOM_TOPIC = "cumulus-room"


def give_back_room(key: str | None) -> None:
    """Tell the scheduler that run task ``key`` needs its node's room no more: its script
    exited cleanly with nothing to upload, and only the run's final write remains. The next
    run is sent to this node meanwhile, and starts the moment this task returns, instead of
    a round trip through the scheduler later. Best effort: a no-op off a Dask worker."""
    if key is None:
        return
    try:
        from distributed import get_worker

        get_worker().log_event(ROOM_TOPIC, {"key": key})
    except Exception:
        pass


def prompt_reports() -> None:
    """The node reports a finished run at once (Dask batches a worker's messages for 2 ms,
    which every run would wait before the next one is sent)."""
    try:
        from distributed import get_worker

        get_worker().batched_stream.interval = REPORT_INTERVAL
    except (ImportError, ValueError, AttributeError):   # not on a Dask worker
        pass


_workspaces: dict[str, Any] = {}
_workspaces_lock = threading.Lock()


def workspace_of(payload: str | dict[str, Any]) -> Any:
    """The workspace a payload (JSON text, or a dict) describes, built once per node process
    and reused by the runs that follow (so its store and its default datastore's lookup are
    shared too)."""
    from cumulus.workspace import Workspace

    key = payload if isinstance(payload, str) else payload_text(payload)
    with _workspaces_lock:
        ws = _workspaces.get(key)
        if ws is None:
            if len(_workspaces) >= 16:
                _workspaces.pop(next(iter(_workspaces)))
            ws = _workspaces[key] = Workspace.from_payload(json.loads(key))
    ws.forget_default_datastore()   # each run looks the default datastore up afresh
    return ws


def payload_text(payload: dict[str, Any]) -> str:
    """A workspace payload as the JSON text a run task carries: one string is cheap for Dask
    to size and send, where a nested dict is walked item by item for every message."""
    return json.dumps(payload, sort_keys=True, default=str)
