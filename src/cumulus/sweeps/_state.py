"""The ``sweep_state`` table: a sweep's definition, its controller's state, pid and heartbeat.

One row per sweep run. ``definition`` is everything a controller needs to run or resume the
sweep (written once at submit); ``state`` holds what the store's run tables do not (which
trials a policy pruned, warnings, progress); ``controller_pid`` / ``controller_heartbeat`` tell
whether a controller is alive. Taking over a sweep is a compare-and-set on the pid, so two
controllers never drive the same sweep.

Example::

    create(store, "sweep_1", definition)
    if claim(store, "sweep_1", os.getpid()):
        heartbeat(store, "sweep_1", os.getpid())
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from cumulus._procs import pid_alive
from cumulus.errors import SweepError

STALE_AFTER = 15.0   # seconds without a heartbeat: a controller on another host is gone
HUNG_AFTER = 120.0   # a live pid on this host that stopped beating this long is hung


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timezone.utc)  # SQLite hands back naive UTC




@dataclass(frozen=True)
class SweepRecord:
    """A row of ``sweep_state``."""

    run_id: str
    definition: dict[str, Any]
    state: dict[str, Any]
    controller_pid: int | None
    controller_heartbeat: datetime | None

    @property
    def heartbeat_age(self) -> float | None:
        """Seconds since the controller's last heartbeat, or since it was spawned when it has
        not claimed the sweep yet (None: neither)."""
        beat = _aware(self.controller_heartbeat)
        if beat is None and self.controller_pid is not None and self.state.get("spawned_at"):
            beat = _aware(datetime.fromisoformat(str(self.state["spawned_at"])))
        return None if beat is None else (_now() - beat).total_seconds()

    @property
    def host(self) -> str | None:
        return self.state.get("controller_host")

    def controller_alive(self) -> bool:
        """Whether a controller drives this sweep now.

        On this host the pid decides (a controller still importing has not beaten yet);
        elsewhere the heartbeat must be fresh.
        """
        if self.controller_pid is None:
            return False
        age = self.heartbeat_age
        if self.host == socket.gethostname():
            return pid_alive(self.controller_pid) and (age is None or age < HUNG_AFTER)
        return age is not None and age < STALE_AFTER


def create(store: Any, run_id: str, definition: dict[str, Any]) -> None:
    store.sweep_states.create(run_id, definition)


def find(store: Any, run_id: str) -> SweepRecord | None:
    row = store.sweep_states.find(run_id)
    return None if row is None else SweepRecord(*row)


def load(store: Any, run_id: str) -> SweepRecord:
    """The sweep's record, or a SweepError saying that ``run_id`` is not a sweep."""
    record = find(store, run_id)
    if record is None:
        store.get_run(run_id)  # RunNotFoundError when there is no such run at all
        raise SweepError(f"run {run_id!r} is not a sweep (it has no sweep state); list sweeps "
                         f"with `cumulus sweep list`.")
    return record


def list_ids(store: Any) -> list[str]:
    return list(store.sweep_states.list_ids())


def set_spawned(store: Any, run_id: str, pid: int) -> None:
    """Record a controller just started (its heartbeat starts now)."""
    store.sweep_states.set_spawned(run_id, pid, socket.gethostname())


def claim(store: Any, run_id: str, pid: int | None = None) -> bool:
    """Make this process the sweep's controller unless a live one drives it."""
    pid = os.getpid() if pid is None else pid
    record = load(store, run_id)
    if record.controller_pid not in (None, pid) and record.controller_alive():
        return False
    return bool(store.sweep_states.take_over(
        run_id, record.controller_pid, pid,
        {**record.state, "controller_host": socket.gethostname()}))


def heartbeat(store: Any, run_id: str, pid: int, state: dict[str, Any] | None = None) -> bool:
    """Refresh the heartbeat (and the state) while ``pid`` still owns the sweep."""
    return bool(store.sweep_states.heartbeat(run_id, pid, state))


def release(store: Any, run_id: str, pid: int, state: dict[str, Any]) -> None:
    """The controller stops: write its last state and clear the pid."""
    store.sweep_states.release(run_id, pid, state)
