"""Queueing a run as a Dask task: one place for the key, annotations and fire-and-forget.

The task is ``execute_run(run_id, ws_payload, max_attempts)`` under the key
``cumulus-run-<id>``, annotated ``cumulus={request, store, run}`` so that the cumulus scheduler
plugin holds it until a node has room for ``request``. A future gang submission would add a
``group`` (its id and size) to the same annotation.

Example::

    submit_run_task(client, run_id, ws.payload(), 3, {"cpus": 1}, ws.store_url)
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from typing import Any

from cumulus.compute import _client  # noqa: F401  (its close-all atexit must come first)
from cumulus.compute._base import ANNOTATION, run_key
from cumulus.errors import ComputeError

CONFIRM_TIMEOUT = 30.0
logger = logging.getLogger("cumulus.compute")


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
    confirm_later(client, key)
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


class _Confirmer:
    """Confirms, in the background and in batches, that the scheduler holds submitted run
    tasks for good: a submit returns at once (confirming each one in turn cost ~10 ms), and
    a process that exits waits for its runs to be confirmed first (``flush``). A task never
    confirmed (the process was killed at once) is queued again by the target's manager."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.pending: dict[str, float] = {}
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
                if self.pending:
                    self.cv.wait(0.002)

    def flush(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.cv:
            while self.pending and time.monotonic() < deadline:
                self.cv.wait(0.05)
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
