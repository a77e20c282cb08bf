"""What every background service of Cumulus shares: file locks, PID-reuse-safe liveness, and
stopping a process group with a grace period.

Locks are ``filelock`` locks (advisory, released when the holder dies). A process is
identified by its pid *and* its start time, so a pid that the system gave to an unrelated
process after ours died is never mistaken for ours.

Example::

    with file_lock(ws.state_dir / "locks" / "agent.lock",
                   waiting=lambda: print("another process starts the agent; waiting")):
        ...
    ref = ProcessRef.of(pid)                 # remember (pid, start time)
    ref.alive()                              # False once it exited, even if the pid is reused
    stop_group(pid, grace=10)                # SIGTERM to its group, SIGKILL after 10 s
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ProcessRef", "file_lock", "pid_alive", "stop_group"]


@contextmanager
def file_lock(path: str | os.PathLike[str], *,
              waiting: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created with its folder); ``waiting`` is called
    once if another process holds it, before blocking."""
    from filelock import FileLock, Timeout

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if waiting is not None:
            waiting()
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _start_time(pid: int) -> float | None:
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return float(proc.create_time())
    except (psutil.Error, ValueError, OverflowError):
        return None


def pid_alive(pid: Any, started: Any = None) -> bool:
    """True when process ``pid`` runs on this host (not a zombie) and, when ``started`` (its
    start time, epoch seconds) is given, is that same process rather than a reused pid."""
    try:
        pid = int(pid)
    except (TypeError, ValueError):
        return False
    if pid <= 0:
        return False
    now_started = _start_time(pid)
    if now_started is None:
        return False
    return started is None or abs(now_started - float(started)) < 1.0


@dataclass(frozen=True)
class ProcessRef:
    """A process as (pid, start time): what a pid file or the store remembers."""

    pid: int
    started: float | None

    @classmethod
    def of(cls, pid: int) -> ProcessRef:
        return cls(int(pid), _start_time(int(pid)))

    def alive(self) -> bool:
        return pid_alive(self.pid, self.started)

    def to_dict(self) -> dict[str, Any]:
        return {"pid": self.pid, "pid_started": self.started}


def stop_group(pid: int, grace: float = 10.0, started: float | None = None) -> bool:
    """SIGTERM the process group led by ``pid``, SIGKILL it after ``grace`` seconds; True
    when it had been running. A reused pid (``started`` differs) is left alone."""
    if not pid_alive(pid, started):
        return False
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(int(pid), sig)
        except ProcessLookupError:
            return True
        except PermissionError:
            os.kill(int(pid), sig)
        deadline = time.monotonic() + (grace if sig == signal.SIGTERM else 5.0)
        while time.monotonic() < deadline:
            if not pid_alive(pid, started):
                return True
            time.sleep(0.05)
    return True
