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

from sqlalchemy import select, update

from cumulus.errors import SweepError
from cumulus.store import models as m

STALE_AFTER = 15.0   # seconds without a heartbeat: a controller on another host is gone
HUNG_AFTER = 120.0   # a live pid on this host that stopped beating this long is hung


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timezone.utc)  # SQLite hands back naive UTC


def pid_alive(pid: int | None) -> bool:
    """True when ``pid`` is a live (non-zombie) process on this machine."""
    from cumulus.compute._local import pid_alive as alive

    return alive(pid)


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
        """Seconds since the controller's last heartbeat (None: never)."""
        beat = _aware(self.controller_heartbeat)
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
    with store.session() as s:
        s.add(m.SweepState(run_id=run_id, definition=definition, state={},
                           controller_pid=None, controller_heartbeat=None))


def find(store: Any, run_id: str) -> SweepRecord | None:
    with store.session() as s:
        row = s.get(m.SweepState, run_id)
        if row is None:
            return None
        return SweepRecord(row.run_id, dict(row.definition or {}), dict(row.state or {}),
                           row.controller_pid, row.controller_heartbeat)


def load(store: Any, run_id: str) -> SweepRecord:
    """The sweep's record, or a SweepError saying that ``run_id`` is not a sweep."""
    record = find(store, run_id)
    if record is None:
        store.get_run(run_id)  # RunNotFoundError when there is no such run at all
        raise SweepError(f"run {run_id!r} is not a sweep (it has no sweep state); list sweeps "
                         f"with `cumulus sweep list`.")
    return record


def list_ids(store: Any) -> list[str]:
    with store.session() as s:
        return list(s.scalars(select(m.SweepState.run_id)).all())


def set_spawned(store: Any, run_id: str, pid: int) -> None:
    """Record a controller just started (its heartbeat starts now)."""
    with store.session() as s:
        row = s.get(m.SweepState, run_id, with_for_update=True)
        if row is not None:
            row.controller_pid = pid
            row.controller_heartbeat = _now()
            row.state = {**(row.state or {}), "controller_host": socket.gethostname()}


def claim(store: Any, run_id: str, pid: int | None = None) -> bool:
    """Make this process the sweep's controller unless a live one drives it."""
    pid = os.getpid() if pid is None else pid
    record = load(store, run_id)
    if record.controller_pid not in (None, pid) and record.controller_alive():
        return False
    old = record.controller_pid
    with store.session() as s:
        cond = (m.SweepState.controller_pid.is_(None) if old is None
                else m.SweepState.controller_pid == old)
        res = s.execute(update(m.SweepState)
                        .where(m.SweepState.run_id == run_id, cond)
                        .values(controller_pid=pid, controller_heartbeat=_now(),
                                state={**record.state, "controller_host": socket.gethostname()}))
        return bool(res.rowcount == 1)


def heartbeat(store: Any, run_id: str, pid: int, state: dict[str, Any] | None = None) -> bool:
    """Refresh the heartbeat (and the state) while ``pid`` still owns the sweep."""
    values: dict[str, Any] = {"controller_heartbeat": _now()}
    if state is not None:
        values["state"] = state
    with store.session() as s:
        res = s.execute(update(m.SweepState)
                        .where(m.SweepState.run_id == run_id,
                               m.SweepState.controller_pid == pid).values(**values))
        return bool(res.rowcount == 1)


def release(store: Any, run_id: str, pid: int, state: dict[str, Any]) -> None:
    """The controller stops: write its last state and clear the pid."""
    with store.session() as s:
        s.execute(update(m.SweepState)
                  .where(m.SweepState.run_id == run_id, m.SweepState.controller_pid == pid)
                  .values(controller_pid=None, controller_heartbeat=None, state=state))
