"""The ``sweep_state`` repository: one row per sweep run (its definition, its controller's
state, pid and heartbeat). Callers get plain tuples and booleans, never sessions; taking over a
sweep is a compare-and-set on the pid (see ``cumulus.sweeps._state`` for the policy)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select, update

from cumulus.store import models as m
from cumulus.store._repository import Repository
from cumulus.store._retry import retry_public_methods

#: (run id, definition, state, controller pid, controller heartbeat)
SweepRow = tuple[str, dict[str, Any], dict[str, Any], int | None, datetime | None]


def _now() -> datetime:
    return datetime.now(timezone.utc)


@retry_public_methods
class SweepStateRepository(Repository):
    """Rows of ``sweep_state`` (store outages are retried like the Store's own calls)."""

    def create(self, run_id: str, definition: dict[str, Any]) -> None:
        with self.store.session() as s:
            s.add(m.SweepState(run_id=run_id, definition=definition, state={},
                               controller_pid=None, controller_heartbeat=None))

    def find(self, run_id: str) -> SweepRow | None:
        with self.store.reading() as s:
            row = s.get(m.SweepState, run_id)
            if row is None:
                return None
            return (row.run_id, dict(row.definition or {}), dict(row.state or {}),
                    row.controller_pid, row.controller_heartbeat)

    def list_ids(self) -> list[str]:
        with self.store.reading() as s:
            return list(s.scalars(select(m.SweepState.run_id)).all())

    def set_spawned(self, run_id: str, pid: int, host: str) -> None:
        """A controller was just started: its pid, its host, the time; no heartbeat until it
        claims the sweep (until then its submitter may record trials, see ``create_run``)."""
        with self.store.session() as s:
            row = s.get(m.SweepState, run_id, with_for_update=True)
            if row is not None:
                row.controller_pid = pid
                row.controller_heartbeat = None
                row.state = {**(row.state or {}), "controller_host": host,
                             "spawned_at": _now().isoformat()}

    def take_over(self, run_id: str, old_pid: int | None, pid: int,
                  state: dict[str, Any]) -> bool:
        """Make ``pid`` the controller if the row still names ``old_pid``."""
        cond = (m.SweepState.controller_pid.is_(None) if old_pid is None
                else m.SweepState.controller_pid == old_pid)
        with self.store.session() as s:
            res = s.execute(update(m.SweepState).where(m.SweepState.run_id == run_id, cond)
                            .values(controller_pid=pid, controller_heartbeat=_now(),
                                    state=state))
            return bool(res.rowcount == 1)  # type: ignore[attr-defined]

    def heartbeat(self, run_id: str, pid: int, state: dict[str, Any] | None = None) -> bool:
        """Refresh the heartbeat (and the state) while ``pid`` owns the sweep."""
        values: dict[str, Any] = {"controller_heartbeat": _now()}
        if state is not None:
            values["state"] = state
        with self.store.session() as s:
            res = s.execute(update(m.SweepState).where(m.SweepState.run_id == run_id,
                                                       m.SweepState.controller_pid == pid)
                            .values(**values))
            return bool(res.rowcount == 1)  # type: ignore[attr-defined]

    def release(self, run_id: str, pid: int, state: dict[str, Any]) -> None:
        """The controller stops: its last state, no pid."""
        with self.store.session() as s:
            s.execute(update(m.SweepState).where(m.SweepState.run_id == run_id,
                                                 m.SweepState.controller_pid == pid)
                      .values(controller_pid=None, controller_heartbeat=None, state=state))


__all__ = ["SweepRow", "SweepStateRepository"]
