"""An ``address`` compute target over real hosts: a Dask scheduler on one host (network
namespace), a worker on each of two hosts. Script runs land on both; a 2-node PyTorch DDP run
puts one node on each host, and the ranks' parameters agree afterwards."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hosts import TestHosts, require_hosts

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
require_hosts()

WHERE = """
import subprocess, sys, time
time.sleep(float(sys.argv[1]))
print("host", subprocess.check_output(["hostname", "-I"], text=True).split()[0])
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[TestHosts, str]]:
    """Two hosts; a scheduler on the first, one single-threaded worker on each."""
    with TestHosts(2) as hosts:
        first = hosts.addresses[0]
        env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
        procs = [subprocess.Popen(
            ["ip", "netns", "exec", hosts.names[0], sys.executable, "-m",
             "distributed.cli.dask_scheduler", "--host", first, "--port", "8786",
             "--no-dashboard"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        address = f"tcp://{first}:8786"
        for i, host in enumerate(hosts.addresses):
            procs.append(subprocess.Popen(
                ["ip", "netns", "exec", hosts.names[i], sys.executable, "-m",
                 "distributed.cli.dask_worker", address, "--nthreads", "1", "--host", host,
                 "--name", f"worker-{host}", "--no-dashboard"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        try:
            _wait_workers(address, 2)
            yield hosts, address
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()


def _wait_workers(address: str, n: int, timeout: float = 60) -> None:
    from distributed import Client

    deadline = time.monotonic() + timeout
    while True:
        try:
            with Client(address, timeout=5) as client:
                client.wait_for_workers(n, timeout=max(1, deadline - time.monotonic()))
                return
        except (OSError, TimeoutError):
            if time.monotonic() > deadline:
                raise


def test_script_runs_land_on_both_hosts(cluster, tmp_path: Path, script_dir) -> None:  # type: ignore[no-untyped-def]
    from cumulus import ComputeTarget, Experiment, ScriptRunConfig, Workspace
    from cumulus.compute import ClusterConfig

    hosts, address = cluster
    ws = Workspace.create("addr", path=tmp_path / "ws")
    ComputeTarget.create(ws, "remote", ClusterConfig(backend="address", address=address))
    src = script_dir({"where.py": WHERE})
    exp = Experiment(ws, "where")
    runs = [exp.submit(ScriptRunConfig(source_directory=str(src), script="where.py",
                                       arguments=["4"], compute_target="remote"))
            for _ in range(2)]
    seen = set()
    for run in runs:
        assert run.wait_for_completion(raise_on_error=False, timeout=180)["status"] == \
            "Completed", run.get_log()
        seen.add(next(ln for ln in run.get_log().splitlines()
                      if ln.startswith("host ")).split()[1])
    assert seen == set(hosts.addresses)


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed")
def test_ddp_ranks_on_two_hosts_agree(cluster, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from cumulus import (
        ComputeTarget,
        Experiment,
        PyTorchDistribution,
        ScriptRunConfig,
        Workspace,
    )
    from cumulus.compute import ClusterConfig

    hosts, address = cluster
    ws = Workspace.create("ddp", path=tmp_path / "ws")
    ComputeTarget.create(ws, "remote", ClusterConfig(backend="address", address=address))
    run = Experiment(ws, "ddp").submit(ScriptRunConfig(
        source_directory=str(REPO / "examples" / "distributed"), script="train_ddp.py",
        arguments=["--epochs", "2", "--steps", "5"], compute_target="remote",
        distribution=PyTorchDistribution(node_count=2)))
    details = run.wait_for_completion(raise_on_error=False, timeout=300)
    assert details["status"] == "Completed", run.get_log()
    props = ws.store.get_run(run.id)["properties"]
    assert {props["node_0"]["host"], props["node_1"]["host"]} == set(hosts.addresses)
    digests = []
    for rank in (0, 1):
        path = run.download_file(f"outputs/params_rank{rank}.json", tmp_path / f"{rank}.json")
        info = json.loads(Path(path).read_text())
        assert info["world"] == 2
        digests.append(info["digest"])
    assert digests[0] == digests[1]
