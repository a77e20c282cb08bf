"""Distributed runs (PyTorch, TensorFlow, MPI) on a real two-node local compute target."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "compute"))
from _compute_helpers import stop_all, wait_until

from cumulus import (
    Experiment,
    MpiDistribution,
    PyTorchDistribution,
    ScriptRunConfig,
    TensorflowDistribution,
)
from cumulus.compute import ClusterConfig, ComputeTarget, NodeSpec
from cumulus.compute._launch import node_request
from cumulus.errors import ResourceUnavailableError, ValidationError
from cumulus.tasks.distributed import (
    cuda_visible_devices,
    hostfile_text,
    rank_env,
)

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
HAS_TORCH = importlib.util.find_spec("torch") is not None

FAIL_SCRIPT = """\
import os, sys, time
rank = int(os.environ["RANK"])
if rank == 1:
    time.sleep(1)
    print("rank 1 giving up", flush=True)
    sys.exit(3)
with open(sys.argv[1], "w") as fh:
    fh.write(str(os.getpid()))
time.sleep(300)
"""

ENV_SCRIPT = """\
import json, os
keys = ["TF_CONFIG", "CUMULUS_HOSTS", "RANK", "WORLD_SIZE", "NODE_RANK", "LOCAL_RANK",
        "MASTER_ADDR", "MASTER_PORT"]
info = {k: os.environ.get(k) for k in keys}
info["hostfile"] = open(os.environ["CUMULUS_HOSTFILE"]).read()
print("ENV " + json.dumps(info), flush=True)
"""


# pure wiring ----------------------------------------------------------------------------------
def test_cuda_visible_devices_slices_the_node_gpus_by_local_rank() -> None:
    assert cuda_visible_devices(0, 0, 1) is None
    assert cuda_visible_devices(1, 0, 1) == "0"
    assert cuda_visible_devices(4, 0, 2) == "0,1"
    assert cuda_visible_devices(4, 1, 2) == "2,3"
    assert cuda_visible_devices(4, 3, 4) == "3"
    assert cuda_visible_devices(2, 3, 4) == "1"          # more processes than gpus: shared
    assert cuda_visible_devices(2, 1, 2, ["5", "7"]) == "7"   # the node's own device ids


def test_rank_env_for_pytorch_tensorflow_and_mpi() -> None:
    nodes = [{"host": "10.0.0.1", "port": 29500}, {"host": "10.0.0.2", "port": 29501}]
    env = rank_env({"type": "pytorch", "node_count": 2, "process_count_per_node": 2}, nodes,
                   1, 1, "/tmp/hf", node_gpus=4)
    assert {k: env[k] for k in ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE",
                                "LOCAL_RANK", "LOCAL_WORLD_SIZE", "NODE_RANK",
                                "CUDA_VISIBLE_DEVICES", "CUMULUS_HOSTS",
                                "CUMULUS_HOSTFILE")} == {
        "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500", "RANK": "3", "WORLD_SIZE": "4",
        "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2", "NODE_RANK": "1",
        "CUDA_VISIBLE_DEVICES": "2,3", "CUMULUS_HOSTS": "10.0.0.1:2,10.0.0.2:2",
        "CUMULUS_HOSTFILE": "/tmp/hf"}
    assert "TF_CONFIG" not in env
    assert "CUDA_VISIBLE_DEVICES" not in rank_env({"type": "mpi"}, nodes, 0, 0)
    tf = TensorflowDistribution(worker_count=1, parameter_server_count=1).to_dict()
    assert json.loads(rank_env(tf, nodes, 1, 0)["TF_CONFIG"]) == {
        "cluster": {"worker": ["10.0.0.1:29500"], "ps": ["10.0.0.2:29501"]},
        "task": {"type": "ps", "index": 0}}
    assert hostfile_text(nodes, 2) == "10.0.0.1 slots=2\n10.0.0.2 slots=2\n"
    assert node_request({"cpus": 1.0}, {"cpus": 4.0, "gpus": 2.0}) == {"cpus": 4.0,
                                                                       "gpus": 2.0}


# on a real two-node target ------------------------------------------------------------------
@pytest.fixture(scope="module")
def dws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from cumulus import Workspace

    ws = Workspace.create("distws", path=tmp_path_factory.mktemp("dws"))
    yield ws
    stop_all(ws)


@pytest.fixture(scope="module")
def pair(dws: Any) -> Iterator[ComputeTarget]:
    cfg = ClusterConfig(backend="local", min_nodes=0, max_nodes=2,
                        idle_seconds_before_scaledown=5, node=NodeSpec(cpus=1))
    target = ComputeTarget.create(dws, "pair", cfg)
    yield target
    try:
        target.delete(force=True)
    except Exception:
        pass


def _config(src: Path | str, script: str, *args: Any, **kw: Any) -> ScriptRunConfig:
    return ScriptRunConfig(source_directory=str(src), script=script,
                           arguments=[str(a) for a in args], compute_target="pair", **kw)


def test_node_count_above_max_nodes_is_refused_before_the_run_is_recorded(
        dws: Any, pair: ComputeTarget, tmp_path: Path) -> None:
    (tmp_path / "noop.py").write_text("print('hi')\n")
    exp = Experiment(dws, "refused")
    before = len(dws.store.list_runs())
    for dist in (PyTorchDistribution(node_count=3), MpiDistribution(node_count=3),
                 TensorflowDistribution(worker_count=2, parameter_server_count=1)):
        with pytest.raises((ResourceUnavailableError, ValidationError),
                           match="needs 3 nodes .* at most 2 .*max_nodes"):
            exp.submit(_config(tmp_path, "noop.py", distribution=dist))
    assert len(dws.store.list_runs()) == before


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed in this environment")
def test_pytorch_ddp_on_two_nodes(dws: Any, pair: ComputeTarget, tmp_path: Path) -> None:
    exp = Experiment(dws, "ddp")
    run = exp.submit(_config(REPO / "examples" / "distributed", "train_ddp.py",
                             "--epochs", 3, "--steps", 5,
                             distribution=PyTorchDistribution(node_count=2)))
    run.wait_for_completion(raise_on_error=False, timeout=240)
    log = run.get_log()
    assert run.get_status() == "Completed", log
    names = run.get_file_names()
    assert {"outputs/params_rank0.json", "outputs/params_rank1.json",
            "logs/rank_0.txt", "logs/rank_1.txt"} <= set(names), names
    digests = []
    for rank in (0, 1):
        path = run.download_file(f"outputs/params_rank{rank}.json", tmp_path / f"{rank}.json")
        info = json.loads(Path(path).read_text())
        assert info["rank"] == rank and info["world"] == 2
        digests.append(info["digest"])
    assert digests[0] == digests[1]
    loss = run.get_metrics()["loss"]
    assert isinstance(loss, list) and len(loss) == 3      # rank 0's only, not 6
    assert "[rank 0] rank 0/2 epoch 2" in log and "[rank 1] rank 1/2 epoch 2" in log
    props = dws.store.get_run(run.id)["properties"]
    assert props["node_0"]["port"] and props["node_1_done"]


def test_a_failing_rank_fails_the_run_and_stops_the_others(
        dws: Any, pair: ComputeTarget, tmp_path: Path) -> None:
    (tmp_path / "fail.py").write_text(FAIL_SCRIPT)
    pid_file = tmp_path / "rank0.pid"
    exp = Experiment(dws, "fail")
    started = time.monotonic()
    run = exp.submit(_config(tmp_path, "fail.py", pid_file,
                             distribution=PyTorchDistribution(node_count=2)))
    details = run.wait_for_completion(raise_on_error=False, timeout=240)
    assert run.get_status() == "Failed"
    assert "rank 1 on node 1 exited with code 3" in str(details.get("error") or
                                                        dws.store.get_run(run.id)["error"])
    assert time.monotonic() - started < 200
    pid = int(wait_until(lambda: pid_file.exists() and pid_file.read_text(), 30, "rank 0 pid"))

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    wait_until(gone, 30, "rank 0 to be stopped")
    assert "[rank 1] rank 1 giving up" in run.get_log()


@pytest.mark.parametrize("dist", [TensorflowDistribution(worker_count=2),
                                  MpiDistribution(node_count=2)], ids=["tf", "mpi"])
def test_tf_config_and_host_list(dws: Any, pair: ComputeTarget, tmp_path: Path,
                                 dist: Any) -> None:
    (tmp_path / "env.py").write_text(ENV_SCRIPT)
    run = Experiment(dws, "env").submit(_config(tmp_path, "env.py", distribution=dist))
    run.wait_for_completion(raise_on_error=False, timeout=240)
    log = run.get_log()
    assert run.get_status() == "Completed", log
    seen = {}
    for line in log.splitlines():
        if "ENV " in line:
            prefix, _, body = line.partition("ENV ")
            info = json.loads(body)
            assert prefix == f"[rank {info['RANK']}] "
            seen[int(info["RANK"])] = info
    assert sorted(seen) == [0, 1]
    hosts = [f"{h}:1" for h in (seen[0]["MASTER_ADDR"],) * 2]
    for rank, info in seen.items():
        assert info["WORLD_SIZE"] == "2" and info["NODE_RANK"] == str(rank)
        assert info["CUMULUS_HOSTS"].split(",")[0] == hosts[0]
        assert len(info["CUMULUS_HOSTS"].split(",")) == 2
        assert info["hostfile"].count("slots=1\n") == 2
    if isinstance(dist, TensorflowDistribution):
        cfgs = [json.loads(seen[r]["TF_CONFIG"]) for r in (0, 1)]
        assert cfgs[0]["cluster"] == cfgs[1]["cluster"]
        workers = cfgs[0]["cluster"]["worker"]
        assert len(workers) == 2 and "ps" not in cfgs[0]["cluster"]
        assert workers[0] == f"{seen[0]['MASTER_ADDR']}:{seen[0]['MASTER_PORT']}"
        assert [c["task"] for c in cfgs] == [{"type": "worker", "index": 0},
                                             {"type": "worker", "index": 1}]
    else:
        assert seen[0]["TF_CONFIG"] is None


SLEEP_SCRIPT = """\
import os, sys, time
with open(os.path.join(sys.argv[1], os.environ["RANK"]), "w") as fh:
    fh.write(str(os.getpid()))
time.sleep(300)
"""


def test_cancel_stops_every_rank(dws: Any, pair: ComputeTarget, tmp_path: Path) -> None:
    (tmp_path / "sleep.py").write_text(SLEEP_SCRIPT)
    pids = tmp_path / "pids"
    pids.mkdir()
    run = Experiment(dws, "cancel").submit(_config(tmp_path, "sleep.py", pids,
                                                   distribution=MpiDistribution(node_count=2)))
    wait_until(lambda: len(list(pids.iterdir())) == 2 and all(p.read_text()
                                                                for p in pids.iterdir()),
               120, "both ranks to start")
    run.cancel()
    run.wait_for_completion(raise_on_error=False, timeout=60)
    assert run.get_status() == "Canceled"

    def gone(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    for p in pids.iterdir():
        wait_until(lambda p=p: gone(int(p.read_text())), 30, f"rank {p.name} to stop")


def test_socket_interface_for_collectives() -> None:
    from cumulus.tasks.distributed import socket_ifname_env

    assert socket_ifname_env("127.0.0.1") == {}
    assert socket_ifname_env("192.0.2.77") == {}          # TEST-NET: on no interface here
