"""A store outage while a run is running: PostgreSQL behind a proxy that is cut for several
seconds, every connection dropped, then restored. The run keeps running, nothing it logged is
lost, it completes, and the client waiting on it waits through the outage."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hosts import TcpProxy

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHATTY = """
import time
from cumulus import Run
run = Run.get_context()
for i in range(40):
    print("line", i, flush=True)
    run.log("i", i)
    time.sleep(0.3)
print("done")
"""


def test_a_run_survives_a_store_outage(own_pg_url: str, tmp_path: Path, script_dir,  # type: ignore[no-untyped-def]
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from cumulus import ComputeTarget, Experiment, ScriptRunConfig, Workspace
    from cumulus.errors import StoreError
    from cumulus.store import Store

    proxy = TcpProxy("127.0.0.1", ("127.0.0.1", 5432))
    try:
        url = own_pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        ws = Workspace.create("outage", path=tmp_path / "ws", store=url,
                              local_compute={"min_nodes": 1, "max_nodes": 1})
        target = ComputeTarget(ws, "local")
        try:
            target.wait_for_completion(timeout_in_minutes=2)
            src = script_dir({"chatty.py": CHATTY})
            run = Experiment(ws, "outage").submit(
                ScriptRunConfig(source_directory=str(src), script="chatty.py"))
            deadline = time.monotonic() + 60
            while "line 5" not in run.get_log():
                assert time.monotonic() < deadline, run.get_log()
                time.sleep(0.2)
            proxy.cut()
            time.sleep(6)                         # every store call fails meanwhile
            proxy.restore()
            details = run.wait_for_completion(raise_on_error=False, timeout=180)
            assert details["status"] == "Completed", run.get_log()
            log = run.get_log()
            assert all(f"line {i}\n" in log for i in range(40)) and "done" in log
            assert run.get_metrics()["i"] == list(range(40))
        finally:
            target.backend.stop()
        monkeypatch.setenv("CUMULUS_STORE_OUTAGE_SECONDS", "2")   # and a longer one is
        proxy.cut()                                                # reported clearly
        with pytest.raises(StoreError, match=r"did not answer for 2 s .*get_status"):
            Store(url).get_status(run.id)
    finally:
        proxy.close()
