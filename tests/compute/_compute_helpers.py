"""Helpers for the compute tests: run scripts, waiting for a condition (never for a
duration), stopping every manager a workspace started, reading the plugin's events."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SCRIPTS = {
    # sleep.py SECONDS: a run that takes a while
    "sleep.py": "import sys, time\nprint('sleeping', flush=True)\n"
                "time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 0.2)\n",
    # attempt.py MARKER: each start appends its pid; the first start waits for a kill,
    # later ones end at once (what a requeued preemptible run looks like)
    "attempt.py": "import os, sys, time\nmarker = sys.argv[1]\n"
                  "first = not os.path.exists(marker)\n"
                  "with open(marker, 'a') as fh: fh.write(f'{os.getpid()}\\n')\n"
                  "from cumulus import Run\nrun = Run.get_context()\n"
                  "n = len(open(marker).read().split())\n"
                  "for i in range(3):\n    run.log('seen', n * 10 + i)\n"
                  "run.upload_file(f'outputs/attempt{n}.txt', marker)\nrun.flush()\n"
                  "forever = len(sys.argv) > 2\n"
                  "if first or forever:\n    time.sleep(300)\nprint('done', flush=True)\n",
    # ledger.py LEDGER: append this run's id once, then finish
    "ledger.py": "import os, sys, time\n"
                 "fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT)\n"
                 "os.write(fd, (os.environ['CUMULUS_RUN_ID'] + '\\n').encode())\n"
                 "os.close(fd)\ntime.sleep(float(sys.argv[2]) if len(sys.argv) > 2 else 0)\n",
}


def wait_until(predicate: Callable[[], Any], timeout: float = 90, what: str = "") -> Any:
    """Poll until ``predicate()`` is truthy; fail (not hang) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.1)


def stop_all(ws: Any) -> None:
    """Stop every manager this workspace started, whatever state the test left it in."""
    from cumulus.compute._base import backend_class
    from cumulus.compute._config import ClusterConfig
    from cumulus.compute._managed import pid_alive

    try:
        records = ws.store.computes.list()
    except Exception:
        return
    for rec in records:
        pid = (rec.get("state") or {}).get("pid")
        try:
            backend_class(rec["backend"])(ws, rec["name"],
                                          ClusterConfig.from_dict(rec["config"])).stop()
        except Exception:
            pass
        if pid_alive(pid):
            os.killpg(int(pid), signal.SIGKILL)


def events(target: Any, action: str | None = None) -> list[dict[str, Any]]:
    """The cumulus scheduler plugin's events for this target's cluster."""
    client = target.backend.client()
    out = [e for _, e in client.get_events("cumulus")]
    return [e for e in out if action is None or e["action"] == action]


def run_config(src: Path, script: str, *args: Any, target: str, **kw: Any) -> Any:
    from cumulus import ScriptRunConfig

    return ScriptRunConfig(source_directory=str(src), script=script,
                           arguments=[str(a) for a in args], compute_target=target, **kw)
