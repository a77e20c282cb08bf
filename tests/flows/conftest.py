"""Pipeline test services: a real Prefect server, started once per test session.

``flows_ws`` is the shared session workspace (warm ``local`` target) with its own Prefect
server (``prefect server start`` under ``.cumulus/prefect``, what every workspace gets by
default), started once; ``PREFECT_API_URL`` is unset meanwhile so that every process
(pipeline agent, pipeline processes, CLI) resolves to it as users' processes would. At the
end, schedules are deleted, active pipelines canceled, and the agent and server stopped.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # flow_helpers


@pytest.fixture(scope="session")
def flows_ws(workspace: Any) -> Iterator[Any]:
    """The session workspace with its own Prefect server: the embedded default, for real."""
    from cumulus.flows import stop_services
    from cumulus.flows._server import LocalServer

    old = os.environ.pop("PREFECT_API_URL", None)  # resolve to the workspace's own server
    LocalServer(workspace).ensure(wait=True)
    try:
        yield workspace
    finally:
        for sched in _schedules(workspace):
            sched.delete()
        _end_pipelines(workspace)
        stop_services(workspace)
        if old is not None:
            os.environ["PREFECT_API_URL"] = old


@pytest.fixture(scope="session")
def prefect_api(flows_ws: Any) -> str:
    """The REST API of the session workspace's Prefect server."""
    from cumulus.flows._prefect import resolve_api

    url = resolve_api(flows_ws, start=False)
    assert url and url.startswith("http://127.0.0.1:")
    return url


def _schedules(ws: Any) -> list[Any]:
    from cumulus.flows import Schedule

    return Schedule.list(ws)


def _end_pipelines(ws: Any, timeout: float = 60) -> None:
    """Cancel pipeline runs still active and wait for their processes, killing stragglers."""
    from cumulus.tasks.cancel import cancel_run

    active = [r for r in ws.store.list_runs(kind="pipeline")
              if r["status"] not in ("Completed", "Failed", "Canceled")]
    for rec in active:
        cancel_run(ws.store, rec["id"], "test session ended")
    deadline = time.monotonic() + timeout
    for rec in active:
        pid = (ws.store.get_run(rec["id"])["properties"] or {}).get("pipeline_pid")
        while pid and _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if pid and _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    from cumulus._procs import pid_alive

    return pid_alive(pid)
