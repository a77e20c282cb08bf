"""Watching a run's script on its node: output straight into a file (the buffer while the
store is unreachable), exit noticed the instant it happens, its folder discarded off the
node's path. The script is tied to its node's life by ``_guard.py``.
"""

from __future__ import annotations

import codecs
import os
import queue
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["ExitWatch", "LogFile", "discard_dir"]


class ExitWatch:
    """Wait for a child to exit with a timeout, woken the instant it does (a Linux pidfd);
    ``Popen.wait(timeout)`` polls with a growing sleep and notices an exit up to tens of
    milliseconds late, which a short run pays in full."""

    def __init__(self, proc: subprocess.Popen[Any]) -> None:
        import select

        self.proc = proc
        self.fd: int | None = None
        self.poller: Any = None
        try:
            self.fd = os.pidfd_open(proc.pid)
            self.poller = select.poll()
            self.poller.register(self.fd, select.POLLIN)
        except (AttributeError, OSError):     # no pidfd here: Popen's own wait
            self.fd = None

    def wait(self, timeout: float) -> bool:
        """True once the child has exited (reaped by ``proc.poll()``)."""
        if self.poller is not None:
            self.poller.poll(timeout * 1000)
            return self.proc.poll() is not None
        try:
            self.proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class LogFile:
    """The child's stdout and stderr, written by the kernel straight into a local file (no pipe,
    no copying thread); ``take()`` hands out what the store has not had yet, read back from
    that file in bounded chunks.

    The file is the buffer: while the store is unreachable (writes retry, see
    ``store/_retry.py``) the script keeps running and writing, its output waits on disk rather
    than in memory, and it is shipped in order, ``TAKE_LIMIT`` bytes at a time, once the store
    answers again. A character cut by a chunk's end waits for its other bytes (an incremental
    decoder), so none is split.

    Example::

        out = LogFile(run_dir / "logs" / "std_log.txt")
        proc = subprocess.Popen(argv, stdout=out.fd, stderr=out.fd)
        out.close()              # the child holds its own copy
        text = out.take()        # what it wrote so far
    """

    TAKE_LIMIT = 4 * 2**20

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND
                                      | os.O_CLOEXEC, 0o666)
        self.start_offset = os.fstat(self.fd).st_size   # an earlier attempt's output stays
        self.shipped = 0       # bytes handed out by take()
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def close(self) -> None:
        """Close this process's copy of the file (once the child has been started)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def take(self) -> str:
        """The next output not yet handed out (at most ``TAKE_LIMIT`` bytes, cut after a
        newline when the chunk is full)."""
        try:
            written = os.stat(self.path).st_size - self.start_offset
        except OSError:
            return ""
        start = self.shipped
        if written <= start:
            return ""
        end = min(written, start + self.TAKE_LIMIT)
        with open(self.path, "rb") as fh:
            fh.seek(self.start_offset + start)
            data = fh.read(end - start)
        if end - start == self.TAKE_LIMIT and b"\n" in data:
            data = data[:data.rfind(b"\n") + 1]
        self.shipped = start + len(data)
        return self._decoder.decode(data)

    def drain(self) -> Iterator[str]:
        """Every chunk left (after the child ended)."""
        while text := self.take():
            yield text
        if rest := self._decoder.decode(b"", final=True):   # a character cut short
            yield rest


_swept: list[bool] = []
_trash: queue.SimpleQueue[Path] = queue.SimpleQueue()
_sweeper: list[threading.Thread] = []
_sweeper_lock = threading.Lock()


def discard_dir(path: Path) -> None:
    """Remove a finished run's folder without holding up its node: renamed aside at once (a
    new attempt of the run starts clean), deleted by this process's one background sweeper."""
    if not path.exists():
        return
    if not _swept:               # once per process: what a killed process left aside
        _swept.append(True)
        for stale in path.parent.glob(".trash-*"):
            _throw_away(stale)
    aside = path.with_name(f".trash-{path.name}-{os.getpid()}-{threading.get_ident()}")
    try:
        path.rename(aside)
    except OSError:
        shutil.rmtree(path, ignore_errors=True)
        return
    _throw_away(aside)


def _throw_away(path: Path) -> None:
    with _sweeper_lock:
        if not _sweeper or not _sweeper[0].is_alive():
            _sweeper[:] = [threading.Thread(target=_sweep, name="cumulus-discard",
                                            daemon=True)]
            _sweeper[0].start()
    _trash.put(path)


def _sweep() -> None:
    while True:
        shutil.rmtree(_trash.get(), ignore_errors=True)
