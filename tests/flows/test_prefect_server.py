"""The workspace's own Prefect server stops by itself when nothing uses it (no pipeline agent,
no `schedule serve`, no flow run in flight), and the next use starts it again."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_an_idle_prefect_server_stops_and_comes_back(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from cumulus import Workspace
    from cumulus.flows._prefect import LocalServer, healthy, pid_alive

    monkeypatch.setenv("CUMULUS_PREFECT_IDLE_EXIT", "3")     # the guard reads it at start
    ws = Workspace.create("idle-prefect", path=tmp_path / "ws")
    server = LocalServer(ws)
    try:
        url = server.ensure(wait=True)
        assert healthy(url)
        pid = server.state()["pid"]
        deadline = time.monotonic() + 90
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not pid_alive(pid), "the idle server kept running"
        assert server.url_if_alive() is None and not server.state()
        log = (ws.state_dir / "logs" / "prefect-server.log").read_text()
        assert "nothing used this Prefect server for 3 s" in log
        monkeypatch.setenv("CUMULUS_PREFECT_IDLE_EXIT", "1800")
        again = server.ensure(wait=True)                 # the next use starts it again
        assert healthy(again)
    finally:
        server.stop()
