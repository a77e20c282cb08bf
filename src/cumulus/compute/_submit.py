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
#: call per burst rather than per run: a sweep's controller submits a trial every few tens of
#: milliseconds; a process about to exit is confirmed at once)
BATCH_WINDOW = 0.5
logger = logging.getLogger("cumulus.compute")
TERMINAL = ("Completed", "Failed", "Canceled")


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
    confirmed (the process was killed at once) is queued again by the target's manager.

    While the scheduler cannot be reached, a run that already ended in the store needs no
    confirmation (a quick run can end, and its cluster be stopped, within one batch window);
    a process about to exit does not wait for a scheduler that is gone (its manager queues
    the runs again when it starts)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        # run task key -> (since when, its store's url, its run id)
        self.pending: dict[str, tuple[float, str | None, str | None]] = {}
        self.flushing = 0            # processes about to exit wait: confirm at once
        self.cv = threading.Condition()
        self.thread = threading.Thread(target=self._loop, daemon=True,
                                       name="cumulus-confirm")
        self.thread.start()

    def add(self, key: str, store_url: str | None = None, run_id: str | None = None) -> None:
        with self.cv:
            self.pending[key] = (time.monotonic(), store_url, run_id)
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
                gone = False
            except Exception:        # the scheduler went away: its manager requeues
                known, gone = self._ended(keys), True
            self._settle(keys, known, gone)
            if gone:
                time.sleep(0.5)

    def _settle(self, keys: list[str], known: set[str], gone: bool) -> None:
        now = time.monotonic()
        with self.cv:
            for key in keys:
                since = self.pending.get(key, (now, None, None))[0]
                if key in known:
                    self.pending.pop(key, None)
                elif now - since > CONFIRM_TIMEOUT or (gone and self.flushing):
                    self.pending.pop(key, None)
                    logger.warning("the scheduler did not confirm run task %s (%s); its "
                                   "compute target's manager will queue it again when it "
                                   "runs", key, "it cannot be reached" if gone else
                                   f"not within {CONFIRM_TIMEOUT:.0f} s")
            self.cv.notify_all()

    def _ended(self, keys: list[str]) -> set[str]:
        """Those of ``keys`` whose runs already ended in the store."""
        by_store: dict[str, dict[str, str]] = {}
        with self.cv:
            for key in keys:
                _since, url, run_id = self.pending.get(key, (0.0, None, None))
                if url and run_id:
                    by_store.setdefault(url, {})[run_id] = key
        ended: set[str] = set()
        from cumulus.store import Store  # cheap: engines are shared per process

        for url, runs in by_store.items():
            try:
                statuses = Store(url).get_statuses(list(runs))
            except Exception:
                continue
            ended |= {runs[r] for r, st in statuses.items() if st in TERMINAL}
        return ended

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


def confirm_later(client: Any, key: str, store_url: str | None = None,
                  run_id: str | None = None) -> None:
    """Have ``key`` (run ``run_id`` of the store at ``store_url``) confirmed in the
    background (see :class:`_Confirmer`)."""
    with _confirmers_lock:
        confirmer = _confirmers.get(id(client))
        if confirmer is None or confirmer.client is not client:
            confirmer = _confirmers[id(client)] = _Confirmer(client)
    confirmer.add(key, store_url, run_id)


def flush_confirmations(timeout: float = CONFIRM_TIMEOUT) -> bool:
    """Wait until every submitted run task is confirmed; False if some were not in time."""
    with _confirmers_lock:
        pending = list(_confirmers.values())
    deadline = time.monotonic() + timeout
    return all(c.flush(max(0.0, deadline - time.monotonic())) for c in pending)


# registered after the client module's close-all (imported above), so it runs before it:
# confirmed first, then the clients close
atexit.register(flush_confirmations)
