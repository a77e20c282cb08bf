"""The background-service helpers: PID-reuse-safe liveness, locks, stopping a group."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from cumulus._procs import ProcessRef, file_lock, pid_alive, stop_group


def test_a_reused_pid_is_not_mistaken_for_ours() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                            start_new_session=True)
    try:
        ref = ProcessRef.of(proc.pid)
        assert ref.alive() and pid_alive(proc.pid)
        # the same pid with another start time: what a reused pid looks like
        assert not pid_alive(proc.pid, (ref.started or 0) - 3600)
        assert not stop_group(proc.pid, 1, (ref.started or 0) - 3600)   # left alone
        assert proc.poll() is None
        assert stop_group(proc.pid, 5, ref.started)
        proc.wait(5)
        assert not ref.alive()
    finally:
        if proc.poll() is None:
            proc.kill()
    for bad in (None, "x", 0, -1):
        assert not pid_alive(bad)


def test_file_lock_says_when_it_waits(tmp_path: Path) -> None:
    path = tmp_path / "locks" / "x.lock"
    said: list[str] = []
    order: list[str] = []
    with file_lock(path):
        def other() -> None:
            with file_lock(path, waiting=lambda: said.append("waiting")):
                order.append("other")
        t = threading.Thread(target=other)
        t.start()
        time.sleep(0.3)
        order.append("first")
    t.join(10)
    assert order == ["first", "other"] and said == ["waiting"]
