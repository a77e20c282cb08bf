"""Backend ``address``: attach to a Dask scheduler this test starts and owns."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _compute_helpers import run_config, wait_until

from cumulus import Experiment
from cumulus.compute import ClusterConfig, ComputeTarget
from cumulus.errors import ComputeError, ResourceUnavailableError, ValidationError

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", *args], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A scheduler and one worker (2 threads, resource gpus=1) that the test owns."""
    tmp = tmp_path_factory.mktemp("dask")
    info = tmp / "scheduler.json"
    procs = [_spawn(["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                     "--no-dashboard", "--scheduler-file", str(info)], tmp / "scheduler.log")]
    try:
        wait_until(info.exists, timeout=60, what="the scheduler file")
        procs.append(_spawn(["distributed.cli.dask_worker", "--scheduler-file", str(info),
                             "--nthreads", "2", "--no-dashboard", "--resources", "gpus=1",
                             "--name", "owned-by-someone-else"], tmp / "worker.log"))
        yield json.loads(info.read_text())["address"]
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)


@pytest.fixture(scope="module")
def attached(cws: Any, scheduler: str) -> ComputeTarget:
    return ComputeTarget.create(cws, "attached", ClusterConfig(backend="address",
                                                               address=scheduler))


def test_runs_on_a_scheduler_someone_else_owns(cws: Any, attached: ComputeTarget,
                                              src: Path) -> None:
    wait_until(lambda: attached.get_status().current_node_count == 1, timeout=60,
               what="the worker to join")
    status = attached.get_status()
    assert (status.provisioning_state, status.allocation_state) == ("Succeeded", "Steady")
    assert status.address == attached.config.address
    runs = [Experiment(cws, "attached").submit(run_config(src, "sleep.py", 0.2,
                                                          target="attached"))
            for _ in range(3)]
    for run in runs:
        run.wait_for_completion(raise_on_error=True)
    wait_until(lambda: attached.get_status().node_state_counts["idle"] == 1, what="idle")


def test_requests_are_checked_against_the_live_workers(cws: Any, attached: ComputeTarget,
                                                       src: Path) -> None:
    exp = Experiment(cws, "attached")
    with pytest.raises(ResourceUnavailableError, match="gpus=2 but every node"):
        exp.submit(run_config(src, "sleep.py", target="attached", resources={"gpus": 2}))
    exp.submit(run_config(src, "sleep.py", target="attached", resources={"gpus": 1})) \
        .wait_for_completion(raise_on_error=True)


def test_scaling_and_the_cluster_belong_to_their_owner(cws: Any, attached: ComputeTarget,
                                                       scheduler: str) -> None:
    with pytest.raises(ValidationError, match="scaling someone else owns"):
        attached.update(max_nodes=8)
    attached.delete()                       # detaches; the scheduler keeps running
    target = ComputeTarget.create(cws, "again", ClusterConfig(backend="address",
                                                              address=scheduler))
    assert target.get_status().current_node_count == 1
    target.delete()


def test_an_unreachable_scheduler_is_reported(cws: Any) -> None:
    target = ComputeTarget.create(cws, "nowhere", ClusterConfig(
        backend="address", address="tcp://127.0.0.1:9", options={"timeout": 1}))
    status = target.get_status()
    assert status.provisioning_state == "Unreachable"
    assert "Cannot reach the Dask scheduler" in status.errors[0]
    with pytest.raises(ComputeError, match="tcp://127.0.0.1:9"):
        target.wait_for_completion(timeout_in_minutes=0.05)
    target.delete()


def test_a_tls_scheduler_needs_its_certificates_and_runs_work(cws: Any, src: Path,
                                                              tmp_path: Path) -> None:
    from cumulus.compute._tls import TLSFiles

    files = TLSFiles.create()
    tls = ["--tls-ca-file", files.ca, "--tls-cert", files.cert, "--tls-key", files.key]
    info = tmp_path / "scheduler.json"
    procs = [_spawn(["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                     "--protocol", "tls", "--no-dashboard", "--scheduler-file", str(info),
                     *tls], tmp_path / "scheduler.log")]
    try:
        wait_until(info.exists, timeout=60, what="the scheduler file")
        address = json.loads(info.read_text())["address"]
        assert address.startswith("tls://")
        procs.append(_spawn(["distributed.cli.dask_worker", "--scheduler-file", str(info),
                             "--nthreads", "1", "--no-dashboard", *tls],
                            tmp_path / "worker.log"))
        with pytest.raises(ValidationError, match="is a TLS scheduler"):
            ClusterConfig(backend="address", address=address)
        with pytest.raises(ValidationError, match="names the files of a TLS scheduler"):
            ClusterConfig(backend="address", address=address, options={"tls": {"ca": "x"}})
        target = ComputeTarget.create(cws, "tls-attached", ClusterConfig(
            backend="address", address=address,
            options={"tls": {"ca": files.ca, "cert": files.cert, "key": files.key}}))
        run = Experiment(cws, "tls").submit(run_config(src, "sleep.py", 0.1,
                                                       target="tls-attached"))
        assert run.wait_for_completion(timeout=120)["status"] == "Completed"
        target.delete()
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
        files.remove()
