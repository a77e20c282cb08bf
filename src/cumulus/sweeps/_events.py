"""Wake-ups of the sweep controller: Dask events published by the run executor.

The executor of a trial publishes ``{"run": id, "what": "metrics" | "end"}`` on the sweep's
topic (``cumulus-sweep-<sweep id>``, from the trial's definition) when it wrote metrics or the
run ended; the controller subscribes through its Dask client and wakes at once instead of
sleeping between polls.

Example::

    wakeup = Wakeup()
    wakeup.subscribe(client, event_topic(sweep_id))
    kinds = wakeup.wait(2.0)        # {"end"} when a trial ended; set() after the timeout
"""

from __future__ import annotations

import threading
from typing import Any


class Wakeup:
    """Set when an executor announces a metric write or a run end on the sweep's topic.

    ``wait`` returns what woke it: the kinds of events received (``{"metrics"}``,
    ``{"end"}``, ...), or an empty set after a timeout or a poke.
    """

    def __init__(self) -> None:
        self._flag = threading.Event()
        self._lock = threading.Lock()
        self._kinds: set[str] = set()
        self._client: Any = None
        self._topic: str | None = None

    @property
    def live(self) -> bool:
        return self._client is not None

    @property
    def client(self) -> Any:
        """The Dask client subscribed through (None when not subscribed)."""
        return self._client

    def subscribe(self, client: Any, topic: str) -> None:
        client.subscribe_topic(topic, self._on_event)
        self._client, self._topic = client, topic

    def _on_event(self, event: Any) -> None:
        msg = event[1] if isinstance(event, (tuple, list)) and len(event) == 2 else {}
        with self._lock:
            self._kinds.add(str(msg.get("what", "other")) if isinstance(msg, dict) else "other")
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
        if self._client is not None:
            try:
                self._client.unsubscribe_topic(self._topic)
            except Exception:
                pass
            self._client = None
