"""The pipeline process's watchdog, in a real child process: it ends the process at once
when the workspace folder is deleted (nothing is left to report to)."""

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
