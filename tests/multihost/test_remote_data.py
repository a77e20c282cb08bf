"""Nothing shared but the software: an ``ssh`` target over two hosts whose workspace keeps
its run history in PostgreSQL (reached through the hosts' gateway) and its default datastore
in an Azurite blob service running on one of the hosts. Snapshots, inputs, outputs and logs
all travel through the blob store; the hosts get the storage key as provisioned nodes do
(set in their SSH sessions), never through Cumulus."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from azurite import ACCOUNT, Azurite, find_azurite
from hosts import TcpProxy, TestHosts, require_hosts

pytestmark = [pytest.mark.integration, pytest.mark.slow]
require_hosts()
if find_azurite() is None:
    pytest.skip("Azurite is not installed (bash .ci/setup_datastores.sh)",
                allow_module_level=True)
pytest.importorskip("asyncssh")

KEY_ENV = "CUMULUS_TEST_REMOTE_BLOB"      # the variable's NAME is what the workspace records

TRAIN = """
import os, subprocess
host = subprocess.check_output(["hostname", "-I"], text=True).split()[0]
data = open(os.path.join(os.environ["CUMULUS_INPUT_DATA"], "numbers.txt")).read().split()
os.makedirs("outputs", exist_ok=True)
open("outputs/total.txt", "w").write(str(sum(int(x) for x in data)))
print("host", host, "total", sum(int(x) for x in data))
"""


@pytest.fixture
def remote(own_pg_url: str) -> Iterator[dict[str, object]]:
    first, _ = TestHosts.plan(2)
    blob = Azurite(port=10000, host=first)
    connection = blob.connection_string
    with TestHosts(2, env={KEY_ENV: connection}) as hosts:
        blob.prefix = ["ip", "netns", "exec", hosts.names[0]]
        blob.start()
        proxy = TcpProxy(hosts.gateway, ("127.0.0.1", 5432))
        try:
            store = own_pg_url.replace("127.0.0.1:5432", f"{hosts.gateway}:{proxy.port}")
            yield {"hosts": hosts, "blob": blob, "store": store, "connection": connection}
        finally:
            proxy.close()
            blob.stop()


def test_runs_cross_hosts_through_the_blob_store_only(remote, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from cumulus import ComputeTarget, Datastore, Experiment, ScriptRunConfig, Workspace
    from cumulus.compute import ClusterConfig

    hosts: TestHosts = remote["hosts"]   # type: ignore[assignment]
    blob: Azurite = remote["blob"]       # type: ignore[assignment]
    monkeypatch.setenv(KEY_ENV, str(remote["connection"]))
    first, second = hosts.addresses
    ws = Workspace.create("remote", path=tmp_path / "ws", store=str(remote["store"]))
    container = blob.create_container(f"remote{uuid.uuid4().hex[:8]}")
    store = Datastore.register(ws, "blobs", f"az://{container}/ws", credential_env=KEY_ENV)
    store.set_as_default()
    data = tmp_path / "data"
    data.mkdir()
    (data / "numbers.txt").write_text("1 2 3 4\n")
    store.upload(src_dir=str(data), target_path="inputs", show_progress=False)
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text(TRAIN)
    target = ComputeTarget.create(ws, "pair", ClusterConfig(
        backend="ssh", min_nodes=2, max_nodes=2,
        options={"hosts": [first, first, second], "connect_options": hosts.ssh_options,
                 "remote_python": sys.executable}))
    try:
        target.wait_for_completion(min_node_count=2, timeout_in_minutes=3)
        exp = Experiment(ws, "remote")
        runs = [exp.submit(ScriptRunConfig(
            source_directory=str(src), script="train.py", compute_target="pair",
            arguments=["--data", store.path("inputs").as_download().named("data")]))
                for _ in range(2)]
        for run in runs:
            details = run.wait_for_completion(raise_on_error=False, timeout=300)
            assert details["status"] == "Completed", run.get_log()
            assert "total 10" in run.get_log()
            assert run.download_file("outputs/total.txt", tmp_path / f"{run.id}.txt") \
                .read_text() == "10"
    finally:
        target.delete(force=True)
    names = blob.list_blobs(container)
    for run in runs:
        assert f"ws/runs/{run.id}/outputs/total.txt" in names
        assert f"ws/runs/{run.id}/logs/std_log.txt" in names
    assert any(n.startswith("ws/snapshots/") for n in names)
    assert ACCOUNT in str(remote["connection"])
