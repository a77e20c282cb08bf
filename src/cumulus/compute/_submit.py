"""What a run task carries to the scheduler, and confirming the scheduler holds it.

Tasks are built and placed by the launch layer (``_launch.py``); each is annotated
``cumulus={request, store, run, group, priority}`` so that the cumulus scheduler plugin holds
it until a node has room for ``request``. A submitting process confirms, in the background,
that the scheduler holds its tasks for good before it exits.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from typing import Any

from cumulus.compute import _client  # noqa: F401  (its close-all atexit must come first)

CONFIRM_TIMEOUT = 30.0
#: seconds the confirmer lets submits gather before asking the scheduler about them (one
#: call per burst rather than per run; a process about to exit is confirmed at once)
BATCH_WINDOW = 0.05
logger = logging.getLogger("cumulus.compute")


def run_annotation(run_id: str, request: dict[str, float], store_url: str,
                   group: str | None = None, priority: int | None = None) -> dict[str, Any]:
    """What the scheduler plugin needs of a run task: its request, store, run id,
    fair-share group and priority."""
    return {"request": dict(request), "store": store_url, "run": run_id,
            "group": group or run_id, "priority": int(priority or 0)}


class _Confirmer:
    """Confirms, in the background and in batches, that the scheduler holds submitted run
    tasks for good: a submit returns at once (confirming each one in turn cost ~10 ms), and
    a process that exits waits for its runs to be confirmed first (``flush``). A task never
    confirmed (the process was killed at once) is queued again by the target's manager."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.pending: dict[str, float] = {}
        self.flushing = 0            # processes about to exit wait: confirm at once
        self.cv = threading.Condition()
        self.thread = threading.Thread(target=self._loop, daemon=True,
                                       name="cumulus-confirm")
        self.thread.start()

    def add(self, key: str) -> None:
        with self.cv:
            self.pending[key] = time.monotonic()
            self.cv.notify_all()

    def _loop(self) -> None:
        while True:
            with self.cv:
                while not self.pending:
                    self.cv.wait()
                if not self.flushing:     # let a burst of submits gather into one call
                    self.cv.wait_for(lambda: self.flushing > 0, BATCH_WINDOW)
                keys = list(self.pending)
            try:
                known = set(self.client.sync(self.client.scheduler.cumulus_known,
                                             keys=keys) or keys)
            except Exception:        # the scheduler went away: its manager requeues
                known = set()
                time.sleep(0.5)
            now = time.monotonic()
            with self.cv:
                for key in keys:
                    if key in known:
                        self.pending.pop(key, None)
                    elif now - self.pending.get(key, now) > CONFIRM_TIMEOUT:
                        self.pending.pop(key, None)
                        logger.warning("the scheduler did not confirm run task %s within "
                                       "%.0f s; its compute target's manager will queue it "
                                       "again", key, CONFIRM_TIMEOUT)
                self.cv.notify_all()

    def flush(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.cv:
            self.flushing += 1
            self.cv.notify_all()
            try:
                while self.pending and time.monotonic() < deadline:
                    self.cv.wait(0.05)
            finally:
                self.flushing -= 1
            return not self.pending


_confirmers: dict[int, _Confirmer] = {}
_confirmers_lock = threading.Lock()


def confirm_later(client: Any, key: str) -> None:
    """Have ``key`` confirmed in the background (see :class:`_Confirmer`)."""
    with _confirmers_lock:
        confirmer = _confirmers.get(id(client))
        if confirmer is None or confirmer.client is not client:
            confirmer = _confirmers[id(client)] = _Confirmer(client)
    confirmer.add(key)


def flush_confirmations(timeout: float = CONFIRM_TIMEOUT) -> bool:
    """Wait until every submitted run task is confirmed; False if some were not in time."""
    with _confirmers_lock:
        pending = list(_confirmers.values())
    deadline = time.monotonic() + timeout
    return all(c.flush(max(0.0, deadline - time.monotonic())) for c in pending)


# registered after the client module's close-all (imported above), so it runs before it:
# confirmed first, then the clients close
atexit.register(flush_confirmations)
