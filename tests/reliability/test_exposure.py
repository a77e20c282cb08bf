"""Nothing exposed: no store password in any process's command line, no listener beyond
loopback, after a managed target has started and run something."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

pytestmark = [pytest.mark.integration]
SECRET = "s3cr3t-Pw-9f1c"


def _tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def test_manager_keeps_the_store_password_out_of_argv_and_listens_on_loopback(
        pg_url: str, tmp_path: Path, script_dir) -> None:  # type: ignore[no-untyped-def]
    import uuid

    from cumulus import ClusterConfig, ComputeTarget, Experiment, ScriptRunConfig, Workspace

    url = pg_url.replace("postgres@", f"postgres:{SECRET}@", 1)  # trust auth ignores it
    assert SECRET in url
    ws = Workspace.create("exposure", path=tmp_path, store=url)
    # a target of its own: the PostgreSQL schema is shared by the session's tests
    name = f"exposure-{uuid.uuid4().hex[:6]}"
    target = ComputeTarget.create(ws, name, ClusterConfig(min_nodes=1, max_nodes=1))
    try:
        status = target.wait_for_completion(min_node_count=1, timeout_in_minutes=2)
        src = script_dir({"hi.py": "print('hello')\n"})
        Experiment(ws, "exposure").submit(
            ScriptRunConfig(source_directory=str(src), script="hi.py",
                            compute_target=name)).wait_for_completion()
        pid = status.manager["pid"]
        assert pid, status
        procs = _tree(pid)
        assert len(procs) >= 2  # the manager and its worker processes
        for proc in psutil.process_iter(["pid", "cmdline"]):
            cmdline = " ".join(proc.info["cmdline"] or [])
            assert SECRET not in cmdline, f"pid {proc.info['pid']} shows the password: {cmdline}"
        listening = [c.laddr for p in procs for c in p.net_connections(kind="inet")
                     if c.status == psutil.CONN_LISTEN]
        assert listening, "the scheduler and dashboard listen somewhere"
        assert all(addr.ip in ("127.0.0.1", "::1") for addr in listening), listening
    finally:
        target.delete(force=True)
