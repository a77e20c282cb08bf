"""Scripts die with their node: one small reaper process per node process kills the process
groups of the scripts it was told about the moment that node process goes away, however it
goes (a crash, ``SIGKILL``, the out-of-memory killer). A requeued run then never runs twice.

The reaper is this file run by the node's own interpreter with ``-I -S`` (no site, no
``cumulus`` import: standard library only). It reads ``+<pgid>:<signal>`` and ``-<pgid>``
lines on a pipe from its node process and watches that process through a Linux pidfd; end of
file on the pipe (the node's end closes when it dies) or the pidfd firing sets it off. It then
sends each group still registered its signal (``SIGKILL``; ``SIGTERM`` for a container
launcher, which stops its container first), and exits. So it never outlives its node.

Registering costs two small pipe writes per script. The alternative, ``PR_SET_PDEATHSIG``,
needs either util-linux's ``setpriv`` in front of every script (an exec: about 1 ms of CPU per
run, measured) or a ``preexec_fn`` (Python then forks the whole node process instead of using
vfork); and it reaches the script only, not the processes the script starts, which share its
group and die here too.

Example::

    proc = subprocess.Popen(argv, start_new_session=True)   # a group of its own
    guard = node_guard()
    guard.watch(proc.pid)
    ...
    proc.wait()
    guard.release(proc.pid)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

__all__ = ["NodeGuard", "node_guard"]


class NodeGuard:
    """This process's reaper: started on first use, started again (told every group still
    watched) if it was killed."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.groups: dict[int, int] = {}     # process group -> the signal it gets
        self.reaper: subprocess.Popen[bytes] | None = None
        self.fd: int | None = None

    def watch(self, pgid: int, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to process group ``pgid`` if this process dies before
        :meth:`release` (``SIGTERM`` for a launcher that stops what it started, a container
        say, and then exits)."""
        with self.lock:
            self.groups[pgid] = int(sig)
            self._send(f"+{pgid}:{int(sig)}\n")

    def release(self, pgid: int) -> None:
        """Stop guarding ``pgid`` (its script has been waited for)."""
        with self.lock:
            if self.groups.pop(pgid, None) is not None:
                self._send(f"-{pgid}\n")

    def close(self) -> None:
        """Stop the reaper without killing anything (this process ends cleanly)."""
        with self.lock:
            self.groups.clear()
            self._stop()

    def _send(self, line: str) -> None:
        for _ in range(2):
            fd = self.fd
            if fd is None:         # a new reaper is told every group watched
                fd = self._start()
                line = "".join(f"+{g}:{sig}\n" for g, sig in sorted(self.groups.items()))
                if not line:
                    return
            try:
                os.write(fd, line.encode())
                return
            except OSError:        # the reaper was killed: start another
                self._stop()

    def _start(self) -> int:
        read, write = os.pipe()
        try:
            self.reaper = subprocess.Popen(
                [sys.executable, "-I", "-S", __file__, str(self.pid)], stdin=read,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True)   # a kill of the node's group leaves it standing
        except BaseException:
            os.close(write)
            raise
        finally:
            os.close(read)
        self.fd = write
        return write

    def _stop(self) -> None:
        if self.fd is not None:
            try:
                os.write(self.fd, b"release\n")   # go without killing anything
            except OSError:
                pass
            os.close(self.fd)
            self.fd = None
        if self.reaper is not None:
            try:
                self.reaper.wait(5)
            except subprocess.TimeoutExpired:
                self.reaper.kill()
                self.reaper.wait()
            self.reaper = None


_guard: list[NodeGuard] = []
_guard_lock = threading.Lock()


def node_guard() -> NodeGuard:
    """This process's guard (a process forked from this one gets its own)."""
    with _guard_lock:
        if not _guard or _guard[0].pid != os.getpid():
            _guard[:] = [NodeGuard()]
        return _guard[0]


def _reap(node: int) -> None:
    """The reaper's loop (standard library only: this runs under ``-I -S``)."""
    import select

    groups: dict[int, int] = {}
    poller = select.poll()
    poller.register(0, select.POLLIN)
    try:
        pidfd = os.pidfd_open(node)
        if os.getppid() == node:        # not already gone (and the pid reused)
            poller.register(pidfd, select.POLLIN)
    except (AttributeError, OSError):   # no pidfd here: end of file on the pipe only
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pending = b""
    ended = False
    while True:
        if not ended and any(fd != 0 for fd, _ in poller.poll()):
            ended = True   # the node process ended: read what it wrote, never wait for more
            os.set_blocking(0, False)
        try:
            chunk = os.read(0, 65536)
        except BlockingIOError:
            chunk = b""
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            if line == b"release":
                return
            group, _, signum = line[1:].partition(b":")
            if line[:1] == b"+" and group.isdigit() and signum.isdigit():
                groups[int(group)] = int(signum)
            elif line[:1] == b"-" and group.isdigit():
                groups.pop(int(group), None)
        if not chunk:       # end of file (its end of the pipe closed), or all read
            break
    for pgid, sig in groups.items():
        try:
            os.killpg(pgid, sig)
        except OSError:
            pass


if __name__ == "__main__":
    _reap(int(sys.argv[1]))
