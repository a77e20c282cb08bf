"""The pipeline agent's process plumbing, in real child processes: the watchdog ends a
pipeline process when the workspace folder is deleted, and concurrent writers of the agent's
state file never undo each other's writes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

CHILD = textwrap.dedent("""
    import shutil, sys, threading, time
    from cumulus.flows._agent import _watchdog
    from cumulus.workspace import Workspace

    ws = Workspace.create("wd", path=sys.argv[1])
    threading.Thread(target=_watchdog, args=(ws, "no-such-run"), daemon=True).start()
    shutil.rmtree(sys.argv[1])
    time.sleep(60)
    sys.exit(7)            # the watchdog did not end the process
""")


def test_the_watchdog_ends_the_process_when_the_workspace_is_deleted(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "ws")],
                          capture_output=True, text=True, timeout=50)
    assert proc.returncode == 1, proc.stderr


WRITER = textwrap.dedent("""
    import sys
    from cumulus.flows._agent import _write_state
    from cumulus.workspace import Workspace

    ws = Workspace.from_config(path=sys.argv[1])
    for i in range(150):
        _write_state(ws, **{sys.argv[2]: i})
""")


def test_concurrent_state_writes_are_never_lost(tmp_path: Path) -> None:
    from cumulus.flows._agent import read_state
    from cumulus.workspace import Workspace

    ws = Workspace.create("st", path=tmp_path / "ws")
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(ws.root), key])
             for key in ("heartbeat_like", "spawner_like")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    state = read_state(ws)
    assert state["heartbeat_like"] == 149 and state["spawner_like"] == 149
