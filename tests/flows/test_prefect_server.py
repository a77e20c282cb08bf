"""The installation's Prefect server: shared by every workspace on the machine, stopped when
idle (no pipeline agent, no `schedule serve`, no flow run in flight) or when every workspace
using it is deleted, and started again on the next use.

Each test has its own cache folder, so its own installation-scoped server (the session's
pipelines keep theirs)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def own_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CUMULUS_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def _wait_gone(pid: int, timeout: float = 90) -> bool:
    from cumulus._procs import pid_alive

    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    return not pid_alive(pid)


def test_an_idle_prefect_server_stops_and_comes_back(own_install: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from cumulus import Workspace
    from cumulus.flows._server import LocalServer, healthy

    monkeypatch.setenv("CUMULUS_PREFECT_IDLE_EXIT", "5")     # the guard reads it at start
    ws = Workspace.create("idle-prefect", path=own_install / "ws")
    server = LocalServer(ws)
    try:
        server.ensure(wait=True)                         # healthy when it returns
        # on a loaded machine it may have been idle 5 s already, and gone with its state
        pid = server.state().get("pid")
        assert pid is None or _wait_gone(pid), "the idle server kept running"
        assert server.url_if_alive() is None and not server.state()
        assert "nothing used this Prefect server for 5 s" in server.log.read_text()
        monkeypatch.setenv("CUMULUS_PREFECT_IDLE_EXIT", "1800")
        again = server.ensure(wait=True)                 # the next use starts it again
        assert healthy(again)
    finally:
        server.stop()


def test_workspaces_share_one_server_until_the_last_one_goes(own_install: Path) -> None:
    from cumulus import Workspace
    from cumulus._procs import ProcessRef
    from cumulus.flows._records import deployment_name
    from cumulus.flows._server import SERVE_HEARTBEAT, LocalServer, healthy

    one = Workspace.create("one", path=own_install / "one")
    two = Workspace.create("two", path=own_install / "two")
    first, second = LocalServer(one), LocalServer(two)
    # a server an earlier version started for `one` alone (a stand-in process) is stopped
    legacy = subprocess.Popen(["sleep", "300"], start_new_session=True)
    legacy_state = one.state_dir / "prefect" / "server.json"
    legacy_state.parent.mkdir(parents=True, exist_ok=True)
    legacy_state.write_text(json.dumps(ProcessRef.of(legacy.pid).to_dict()))
    try:
        url = first.ensure(wait=True)
        assert legacy.wait(timeout=30) is not None and not legacy_state.exists()
        assert second.ensure(wait=True) == url              # found running: no second start
        pid = first.state()["pid"]
        assert sorted(first.users()) == sorted([str(one.state_dir.resolve()),
                                                str(two.state_dir.resolve())])
        record = {"kind": "cron", "name": "nightly"}         # same name in both workspaces
        assert deployment_name(one, record) != deployment_name(two, record)

        beat = two.state_dir / "prefect" / SERVE_HEARTBEAT   # `schedule serve` of `two`
        beat.parent.mkdir(parents=True, exist_ok=True)
        beat.write_text(json.dumps({**ProcessRef.of(os.getpid()).to_dict(),
                                    "heartbeat": time.time()}))
        assert first.release() is False and healthy(url)    # `two` still uses it
        assert first.users() == [str(two.state_dir.resolve())]

        shutil.rmtree(two.root)                              # the last user is deleted
        assert _wait_gone(pid, timeout=30), "the server outlived every workspace using it"
        assert "every workspace that used this Prefect server is gone" in \
            first.log.read_text()
    finally:
        first.stop()
