"""The ``local`` backend end to end: a real manager process, Dask cluster and runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _compute_helpers import events, run_config, wait_until

from cumulus import Experiment
from cumulus.compute import ClusterConfig, ComputeTarget, NodeSpec
from cumulus.compute._managed import pid_alive
from cumulus.errors import ComputeTargetNotFoundError, ResourceUnavailableError, ValidationError

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
IDLE = 1.0


@pytest.fixture(scope="module")
def auto(cws: Any) -> ComputeTarget:
    cfg = ClusterConfig(backend="local", min_nodes=0, max_nodes=2,
                        idle_seconds_before_scaledown=IDLE, node=NodeSpec(cpus=1))
    return ComputeTarget.create(cws, "auto", cfg)


def test_create_returns_at_once_and_wait_prints_the_counts(auto: ComputeTarget,
                                                           capsys: Any) -> None:
    status = auto.wait_for_completion(show_output=True, timeout_in_minutes=2)
    assert "auto: Succeeded, Steady, nodes 0 (target 0" in capsys.readouterr().out
    assert status.provisioning_state == "Succeeded" and status["current_node_count"] == 0
    assert status.node_state_counts == {"idle": 0, "running": 0, "preparing": 0,
                                        "leaving": 0, "unusable": 0}
    assert status.scale_settings == {"min_nodes": 0, "max_nodes": 2,
                                     "idle_seconds_before_scaledown": IDLE}
    assert status.manager["alive"] and pid_alive(status.manager["pid"])


def test_another_process_sees_the_same_cluster(cws: Any, auto: ComputeTarget) -> None:
    auto.wait_for_completion(timeout_in_minutes=2)
    code = ("import json, sys\nfrom cumulus import Workspace\n"
            "ws = Workspace.from_config(sys.argv[1])\n"
            "s = ws.compute_targets['auto'].get_status()\n"
            "print(json.dumps({'pid': s.manager['pid'], 'address': s.address,"
            " 'names': sorted(ws.compute_targets)}))\n")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    out = subprocess.run([sys.executable, "-c", code, str(cws.root)], env=env, check=True,
                         capture_output=True, text=True, timeout=120).stdout
    seen = json.loads(out)
    mine = auto.get_status()
    assert seen == {"pid": mine.manager["pid"], "address": mine.address,
                    "names": ["auto", "local"]}
    assert ComputeTarget(cws, "auto").get_status().address == mine.address
    with pytest.raises(ComputeTargetNotFoundError, match="Did you mean 'auto'"):
        ComputeTarget(cws, "autp")


def test_runs_scale_up_within_max_nodes_and_idle_nodes_are_released(
        cws: Any, auto: ComputeTarget, src: Path) -> None:
    exp = Experiment(cws, "scale")
    runs = [exp.submit(run_config(src, "sleep.py", 1.5, target="auto")) for _ in range(4)]
    peak = 0

    def done() -> bool:
        nonlocal peak
        peak = max(peak, auto.get_status().current_node_count)
        return all(r.get_status() == "Completed" for r in runs)

    wait_until(done, what="the runs to complete")
    assert 1 <= peak <= 2
    # never more runs at once than nodes (one cpu each, max_nodes=2)
    spans = sorted((r.get_details()["startTimeUtc"], r.get_details()["endTimeUtc"])
                   for r in runs)
    for i, (start, _) in enumerate(spans):
        assert sum(1 for s, e in spans[:i] if e > start) <= 1
    wait_until(lambda: auto.get_status().current_node_count == 0, what="scale-down to 0")
    released = events(auto, "node-release")
    assert released, "idle nodes were not released"
    assert all(e["idle"] >= IDLE - 1e-3 for e in released), released
    status = auto.get_status()
    assert (status.allocation_state, status.queued_runs, status.target_node_count) == (
        "Steady", 0, 0)
    # the node counts over time went up to the peak and back down to 0
    wait_until(lambda: auto.get_history()[-1]["nodes"] == 0, what="a sample with no node")
    history = auto.get_history()
    assert max(h["nodes"] for h in history) >= 1
    assert any(h["queued_runs"] or h["running_runs"] for h in history)
    assert [h["time"] for h in history] == sorted(h["time"] for h in history)
    assert auto.get_history(since=history[-1]["time"]) == []


def test_update_takes_effect_without_a_restart(auto: ComputeTarget) -> None:
    pid = auto.get_status().manager["pid"]
    auto.update(min_nodes=1)
    wait_until(lambda: auto.get_status().current_node_count == 1, what="min_nodes=1")
    with pytest.raises(ValidationError, match="min_nodes \\(3\\) is greater than max_nodes"):
        auto.update(min_nodes=3)
    assert auto.config.min_nodes == 1
    auto.update(min_nodes=0, idle_seconds_before_scaledown=0.5)
    wait_until(lambda: auto.get_status().current_node_count == 0, what="scale-down")
    assert auto.get_status().manager["pid"] == pid
    assert auto.get_status().scale_settings["idle_seconds_before_scaledown"] == 0.5


@pytest.fixture(scope="module")
def gpu(cws: Any) -> ComputeTarget:
    cfg = ClusterConfig(min_nodes=0, max_nodes=1, idle_seconds_before_scaledown=5,
                        node=NodeSpec(cpus=2, gpus=1, memory="1GiB"))
    return ComputeTarget.create(cws, "gpu", cfg)


def test_a_gpu_request_is_honoured(cws: Any, gpu: ComputeTarget, src: Path) -> None:
    exp = Experiment(cws, "gpu")
    gpu_runs = [exp.submit(run_config(src, "sleep.py", 1, target="gpu",
                                      resources={"gpus": 1})) for _ in range(2)]
    cpu_run = exp.submit(run_config(src, "sleep.py", 0.1, target="gpu"))
    for run in [*gpu_runs, cpu_run]:
        run.wait_for_completion(raise_on_error=True)
    first, second = sorted((r.get_details()["startTimeUtc"], r.get_details()["endTimeUtc"])
                           for r in gpu_runs)
    assert first[1] <= second[0], "two runs shared the node's single GPU"


def test_a_run_that_can_never_fit_is_refused_at_submit(cws: Any, gpu: ComputeTarget,
                                                       src: Path) -> None:
    exp = Experiment(cws, "nofit")
    with pytest.raises(ResourceUnavailableError) as err:
        exp.submit(run_config(src, "sleep.py", target="gpu", resources={"gpus": 2}))
    assert "asks for gpus=2 but every node of compute target 'gpu' has gpus=1" in \
        str(err.value)
    with pytest.raises(ResourceUnavailableError, match="memory=2.00GiB"):
        exp.submit(run_config(src, "sleep.py", target="gpu", resources={"memory": "2GiB"}))
    assert list(exp.get_runs()) == []


def test_a_target_on_a_postgresql_store(pg_url: str, tmp_path: Path, src: Path) -> None:
    from _compute_helpers import stop_all

    from cumulus import Workspace

    ws = Workspace.create("pgcompute", path=tmp_path, store=pg_url)
    try:
        target = ComputeTarget.create(ws, "pg", ClusterConfig(max_nodes=1,
                                                              idle_seconds_before_scaledown=1))
        run = Experiment(ws, "pg").submit(run_config(src, "sleep.py", 0.1, target="pg"))
        run.wait_for_completion(raise_on_error=True)
        status = ComputeTarget(Workspace.from_config(tmp_path), "pg").get_status()
        assert status.provisioning_state == "Succeeded" and status.manager["alive"]
        target.delete()
        assert "pg" not in ws.compute_targets
    finally:
        stop_all(ws)
