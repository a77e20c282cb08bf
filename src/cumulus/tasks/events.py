"""The run-event channel: executors push what happened, waiters wake on it.

An executor announces each run's life on Dask's pub/sub (``Worker.log_event``): on the
topic every follower of runs listens to (:data:`RUNS_TOPIC`: ``{"run": id, "what":
"status" | "log" | "metrics" | "end"}``) and, in the same message, on its group's topic (a
sweep's, or its pipeline's ``cumulus-children-<parent>``). A cancel request travels the other
way on :data:`CANCEL_TOPIC` and reaches the executor in milliseconds (the store is checked
too, every 0.5 s, for requests made where no client of the cluster exists).

Waiters never poll the store faster than every 0.5 s: where the process holds a client of the
run's cluster they sleep until an event arrives (and read the store then); elsewhere they
read it every 0.5 s. Everything is best effort: a lost event costs latency, never a result.

Example::

    watch = watch_runs(client, ["run-1"])    # a Wakeup set by run-1's events
    kinds = watch.wait(2.0)                  # {"end"} when it ended; set() on a timeout
    watch.close()
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["CANCEL_TOPIC", "RUNS_TOPIC", "CancelBoard", "Wakeup", "announce_cancel",
           "cancel_board", "publish_event", "watch_runs"]

RUNS_TOPIC = "cumulus-runs"
CANCEL_TOPIC = "cumulus-cancel"


def publish_event(topic: str | None, run_id: str, what: str, **fields: Any) -> None:
    """Best effort: announce on :data:`RUNS_TOPIC` and on ``topic`` (a sweep's or a
    pipeline's) that run ``run_id`` changed (``what``; an ``"end"`` carries the ``status``
    already recorded), in one message. Never fails the run; a no-op outside a Dask worker."""
    topics = [RUNS_TOPIC, topic] if topic else RUNS_TOPIC
    try:
        from distributed import get_worker

        get_worker().log_event(topics, {"run": run_id, "what": what, **fields})
    except Exception:
        pass


class Wakeup:
    """Set when an event of interest arrives; ``wait`` returns the kinds received
    (``{"metrics"}``, ``{"end"}``, ...), or an empty set after a timeout or a poke."""

    def __init__(self) -> None:
        self._flag = threading.Event()
        self._lock = threading.Lock()
        self._kinds: set[str] = set()
        self._client: Any = None
        self._topic: str | None = None
        self._closer: Any = None
        self.ended: str | None = None     # the final status an "end" event carried

    @property
    def live(self) -> bool:
        return self._client is not None

    @property
    def client(self) -> Any:
        """The Dask client subscribed through (None when not subscribed)."""
        return self._client

    def subscribe(self, client: Any, topic: str) -> None:
        """Own ``topic``'s subscription on ``client`` (one handler per topic and client)."""
        client.subscribe_topic(topic, self._on_event)
        self._client, self._topic = client, topic

    def _on_event(self, event: Any) -> None:
        msg = event[1] if isinstance(event, (tuple, list)) and len(event) == 2 else {}
        self.note(str(msg.get("what", "other")) if isinstance(msg, dict) else "other")

    def note(self, kind: str, status: Any = None) -> None:
        with self._lock:
            self._kinds.add(kind)
            if kind == "end" and isinstance(status, str):
                self.ended = status
        self._flag.set()

    def poke(self) -> None:
        self._flag.set()

    def wait(self, timeout: float) -> set[str]:
        self._flag.wait(max(0.0, timeout))
        self._flag.clear()
        with self._lock:
            kinds, self._kinds = self._kinds, set()
        return kinds

    def close(self) -> None:
        if self._closer is not None:
            self._closer()
            self._closer = None
        elif self._client is not None and self._topic is not None:
            try:
                self._client.unsubscribe_topic(self._topic)
            except Exception:
                pass
        self._client = None


class _Dispatch:
    """One subscription to a topic per client, fanned out to the wakeups of the run ids
    each waiter follows (Dask keeps one handler per topic and client)."""

    def __init__(self, client: Any, topic: str) -> None:
        self.client, self.topic = client, topic
        self.lock = threading.Lock()
        self.by_run: dict[str, set[Wakeup]] = {}
        client.subscribe_topic(topic, self.on_event)

    def on_event(self, event: Any) -> None:
        msg = event[1] if isinstance(event, (tuple, list)) and len(event) == 2 else {}
        if not isinstance(msg, dict):
            return
        runs = msg.get("runs") or [msg.get("run")]
        with self.lock:
            targets = [w for r in runs for w in self.by_run.get(str(r), ())]
        for w in targets:
            w.note(str(msg.get("what", "other")), msg.get("status"))

    def add(self, run_ids: Iterable[str], wake: Wakeup) -> None:
        with self.lock:
            for r in run_ids:
                self.by_run.setdefault(r, set()).add(wake)

    def remove(self, run_ids: Iterable[str], wake: Wakeup) -> None:
        with self.lock:
            for r in run_ids:
                group = self.by_run.get(r)
                if group is not None:
                    group.discard(wake)
                    if not group:
                        del self.by_run[r]


_dispatches: dict[tuple[int, str], _Dispatch] = {}
_dispatch_lock = threading.Lock()


def _dispatch(client: Any, topic: str) -> _Dispatch:
    key = (id(client), topic)
    with _dispatch_lock:
        found = _dispatches.get(key)
        if found is None or found.client is not client:
            found = _dispatches[key] = _Dispatch(client, topic)
        return found


def watch_runs(client: Any, run_ids: Iterable[str], topic: str = RUNS_TOPIC) -> Wakeup:
    """A :class:`Wakeup` set by the events of ``run_ids`` that reach ``client``; close it
    when done. Raises what the client raises when it cannot subscribe."""
    ids = [str(r) for r in run_ids]
    wake = Wakeup()
    dispatch = _dispatch(client, topic)
    dispatch.add(ids, wake)
    wake._client = client
    wake._closer = lambda: dispatch.remove(ids, wake)
    return wake


def announce_cancel(client: Any, run_ids: Sequence[str]) -> bool:
    """Tell the executors and the waiters of ``run_ids`` (through ``client``'s scheduler)
    that a cancel was requested; True when sent. The store already holds the request."""
    if client is None or not run_ids:
        return False
    try:
        client.log_event([CANCEL_TOPIC, RUNS_TOPIC], {"runs": list(run_ids), "what": "cancel"})
        return True
    except Exception:
        return False


class CancelBoard:
    """Worker side: the cancel requests this worker process has heard of.

    ``watch(run_id)`` gives a :class:`Wakeup` an executor checks between its other chores;
    the first call subscribes the worker's own client to :data:`CANCEL_TOPIC`.
    """

    def __init__(self) -> None:
        self._dispatch: _Dispatch | None = None
        self._lock = threading.Lock()

    def watch(self, run_id: str) -> Wakeup | None:
        dispatch = self._subscribe()
        if dispatch is None:
            return None
        wake = Wakeup()
        dispatch.add([run_id], wake)
        wake._client = dispatch.client
        wake._closer = lambda: dispatch.remove([run_id], wake)
        return wake

    def _subscribe(self) -> _Dispatch | None:
        with self._lock:
            if self._dispatch is None:
                try:
                    from distributed import get_client, get_worker

                    get_worker()            # raises outside a worker
                    client = get_client()   # the worker's own client
                    self._dispatch = _Dispatch(client, CANCEL_TOPIC)
                except Exception:   # not in a worker, or no scheduler: the store check remains
                    return None
            return self._dispatch


_board = CancelBoard()


def cancel_board() -> CancelBoard:
    """This process's board (one per worker process)."""
    return _board
