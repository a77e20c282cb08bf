"""One way to follow a run: its status changes, its log as written, its end.

``follow`` serves ``Run.wait_for_completion``, ``Run.stream_log``, a sweep's wait and the
command line. Where this process holds a client of the run's cluster it sleeps until the
run's executor announces something (:mod:`cumulus.tasks.events`) and reads the store then
(log reads coalesced to one per 0.5 s), with a safety read every 2 s; elsewhere, and for
runs whose log no executor announces (sweeps, pipelines: their end is announced), it reads
the store every 0.5 s. No caller polls faster.

Example::

    for event in follow(store, run_id, logs=True):
        if event.kind == "log":
            print(event.text, end="")
    event.status                       # the final status ("Completed", "Failed", ...)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from cumulus.errors import RunError
from cumulus.store.status import TERMINAL

TERMINAL_VALUES = frozenset(s.value for s in TERMINAL)

__all__ = ["FALLBACK_READ", "LIVE_READ", "RunEvent", "follow"]

#: seconds between store reads when no event channel is live
FALLBACK_READ = 0.5
#: seconds between safety reads while events are heard
LIVE_READ = 2.0
#: log reads prompted by events are coalesced to at most one per this many seconds
LOG_READ = 0.5


@dataclass(frozen=True)
class RunEvent:
    """``status``: the status changed; ``log``: new log ``text``; ``end``: the run ended
    (always last)."""

    kind: Literal["status", "log", "end"]
    status: str
    text: str = ""


class _Clock:
    """When to read next: pure bookkeeping over monotonic times (tested with literals)."""

    def __init__(self, live: bool) -> None:
        self.interval = LIVE_READ if live else FALLBACK_READ
        self.last_read = float("-inf")
        self.last_log = float("-inf")
        self.log_pending = False

    def should_read(self, now: float, kinds: set[str]) -> tuple[bool, bool]:
        """(read the status, read the log) on waking at ``now`` with event ``kinds`` heard;
        records the reads as done."""
        self.log_pending = self.log_pending or "log" in kinds
        status = now - self.last_read >= self.interval - 1e-3 or bool(kinds - {"log",
                                                                                  "metrics"})
        log = status or (self.log_pending and now - self.last_log >= LOG_READ - 1e-3)
        if status:
            self.last_read = now
        if log:
            self.last_log, self.log_pending = now, False
        return status, log

    def next_wait(self, now: float) -> float:
        wait = self.last_read + self.interval - now
        if self.log_pending:
            wait = min(wait, self.last_log + LOG_READ - now)
        return max(0.0, wait)


def follow(store: Any, run_id: str, *, client: Any = None, logs: bool = True,
           timeout: float | None = None, label: str = "Run",
           idle: Callable[[], None] | None = None, idle_every: float = 30.0,
           announced: bool = True) -> Iterator[RunEvent]:
    """Events of run ``run_id`` until it ends (see the module docs).

    ``client``: a connected Dask client of the run's cluster to hear its events through
    (None: read the store every 0.5 s). ``announced``: whether the run's executor announces
    its log writes and status changes (a script run's does; a sweep's controller and a
    pipeline's engine announce only their end, so their log is read every 0.5 s). ``idle``
    is called every ``idle_every`` seconds while the run goes on (a waiter's liveness
    checks). Past ``timeout`` seconds it raises RunError naming the status it is still in.
    """
    from cumulus.tasks.events import watch_runs

    wake = None
    if client is not None:
        try:
            wake = watch_runs(client, [run_id])
        except Exception:      # no events: reading the store every 0.5 s still sees it all
            wake = None
    clock = _Clock(live=wake is not None and announced)
    deadline = None if timeout is None else time.monotonic() + timeout
    last_idle = time.monotonic()
    cursor, status, kinds = 0, "", {"status"}
    try:
        while True:
            now = time.monotonic()
            read_status, read_log = clock.should_read(now, kinds)
            if read_status:
                # an end event carries the status its executor recorded: no read needed
                ended = wake.ended if wake is not None and "end" in kinds else None
                new = ended if ended in TERMINAL_VALUES else store.get_status(run_id)
                if new != status:
                    status = new
                    yield RunEvent("status", status)
            if logs and read_log:
                text, cursor = store.read_log(run_id, cursor)
                if text:
                    yield RunEvent("log", status, text)
            if status in TERMINAL_VALUES:
                if logs:
                    text, cursor = store.read_log(run_id, cursor)
                    if text:
                        yield RunEvent("log", status, text)
                yield RunEvent("end", status)
                return
            if deadline is not None and now > deadline:
                raise RunError(f"{label} {run_id} still {status} after {timeout} s.",
                               run_id=run_id, status=status)
            if idle is not None and now - last_idle >= idle_every:
                last_idle = now
                idle()
            pause = clock.next_wait(time.monotonic())
            if deadline is not None:
                pause = min(pause, max(0.0, deadline - time.monotonic()) + 0.01)
            kinds = wake.wait(pause) if wake is not None else _sleep(pause)
    finally:
        if wake is not None:
            wake.close()


def _sleep(seconds: float) -> set[str]:
    time.sleep(seconds)
    return set()
