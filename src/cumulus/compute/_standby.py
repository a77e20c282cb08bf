"""Runs that wait on a busy node: a single-slot node's next run, sent before its room frees.

Dask keeps a task ready on each of its workers, so that no worker idles for a round trip to
the scheduler between two tasks. The scheduler plugin does the same for runs, on single-slot
nodes only (:func:`~cumulus.compute._policy.standby`): one run waits there behind the run
executing, and starts the moment that one ends. Two rules keep that safe:

- **No run waits behind a busy node while another node has room.** When a node has room and
  no queued run takes it, a run waiting on a busy node moves there, through Dask's own
  work-stealing handshake: the busy node confirms the run has not started, or it stays
  (``WorkStealing.move_task_request``).
- **A node lost while a run waits on it costs that run no attempt.** Dask counts every task
  that was on a lost worker as suspicious (too many and it fails with ``KilledWorker``); a
  waiting run was not executing, so its count is lowered while it waits and restored when it
  starts or moves.

The plugin holds one :class:`Standby`; it owns which runs wait where and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["Standby"]

#: what Dask's work stealing logs (topic "stealing") once a move is decided
MOVED, STARTED, REPLACED = "confirm", "already-computing", "reschedule"


class Standby:
    """Which run waits on which busy node, and runs moving back to a node with room."""

    def __init__(self, scheduler: Any, hold: str) -> None:
        self.scheduler = scheduler
        self.hold = hold                    # the worker restriction no worker satisfies
        self.waiting: dict[str, str] = {}   # run key -> the node address it waits on
        self.moving: dict[str, str] = {}    # run key -> the node address it moves to
        self.started: set[str] = set()      # keys a move found executing already

    @property
    def stealing(self) -> Any:
        """Dask's work-stealing extension (None where the configuration turned it off: then
        no run waits on a node, since none could move back)."""
        return self.scheduler.extensions.get("stealing")

    def add(self, key: str, address: str) -> None:
        """Run ``key`` was sent to wait on node ``address``; a run that waited there before
        is next (or executing) now."""
        for other, where in list(self.waiting.items()):
            if where == address:
                self._stop_waiting(other)
        ts = self.scheduler.tasks.get(key)
        if ts is not None:
            ts.suspicious -= 1             # restored when it starts or moves (see module)
            self.waiting[key] = address

    def left(self, key: str) -> None:
        """Run task ``key`` left its node: it ended, or the node was lost (Dask counted it
        suspicious then, which the lowered count evens out)."""
        self.waiting.pop(key, None)
        self.moving.pop(key, None)
        self.started.discard(key)

    def moving_to(self, address: str) -> list[str]:
        """Run keys on their way to node ``address``."""
        return [k for k, to in self.moving.items() if to == address]

    def settle(self, holds_room: Callable[[Any], bool]) -> None:
        """A waiting run whose node has no other run holding room is next: it stops waiting.
        ``holds_room(task)`` says whether a task on a node holds room there."""
        tasks = self.scheduler.tasks
        for key, address in list(self.waiting.items()):
            ts = tasks.get(key)
            node = ts.processing_on if ts is not None and ts.state == "processing" else None
            if node is None:
                self.waiting.pop(key)
            elif node.address != address or not any(
                    other is not ts and holds_room(other) for other in node.processing):
                self._stop_waiting(key)
        for key, to in list(self.moving.items()):
            ts = tasks.get(key)
            node = ts.processing_on if ts is not None and ts.state == "processing" else None
            if node is None or node.address == to:
                self.moving.pop(key)

    def move_back(self, free: Iterable[Any], fits_on: Callable[[str, Any], bool]) -> None:
        """Ask each node in ``free`` (nodes with room that no queued run took) to take a run
        waiting on a busy node, if one fits (``fits_on(key, node)``)."""
        stealing = self.stealing
        thieves = list(free)
        for key, address in list(self.waiting.items()):
            if not thieves or stealing is None:
                return
            ts = self.scheduler.tasks.get(key)
            victim = ts.processing_on if ts is not None else None
            if key in self.moving or key in self.started or victim is None or \
                    victim.address != address:
                continue
            for i, thief in enumerate(thieves):
                if fits_on(key, thief):
                    del thieves[i]
                    if str(stealing.move_task_request(ts, victim, thief)).startswith("steal"):
                        self.moving[key] = thief.address
                    break

    def on_steal(self, msg: Any, holds_room: Callable[[Any], bool]) -> bool:
        """Dask's work stealing decided a move (its "stealing" log event); True when the
        placement should be looked at again."""
        if not isinstance(msg, list | tuple) or not msg:
            return False
        action, tasks = msg[0], self.scheduler.tasks
        if action == MOVED:                  # (action, key, state, victim, thief, id)
            key, thief = msg[1], msg[4]
            if key in tasks:
                tasks[key].worker_restrictions = {thief}
            self.moving.pop(key, None)
            self._stop_waiting(key)
        elif action == STARTED:              # it was the one executing: the other one waits
            key, victim = msg[1], msg[3]
            self.moving.pop(key, None)
            self.started.add(key)
            if key in self.waiting:
                self._stop_waiting(key)
                node = self.scheduler.workers.get(victim)
                others = [ts.key for ts in (node.processing if node is not None else ())
                          if ts.key != key and ts.key not in self.started and holds_room(ts)]
                if len(others) == 1:
                    self.add(others[0], victim)
        elif action == REPLACED:             # (action, thief gone, key, state, victim, ...)
            key = msg[2]
            if key in tasks:                 # queued again: held until a node has room
                tasks[key].worker_restrictions = {self.hold}
            self.moving.pop(key, None)
            self._stop_waiting(key)
        elif action in ("stale-response", "already-aborted"):
            self.moving.pop(msg[1], None)
        else:
            return False
        return True

    def _stop_waiting(self, key: str) -> None:
        if self.waiting.pop(key, None) is not None:
            ts = self.scheduler.tasks.get(key)
            if ts is not None:
                ts.suspicious += 1
