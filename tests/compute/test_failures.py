"""Failures with real processes: a node dies mid-run, the manager dies, a target is deleted
with runs in flight."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from _compute_helpers import run_config, wait_until

from cumulus import Experiment, Run
from cumulus.compute import ClusterConfig, ComputeTarget, NodeSpec
from cumulus.compute._managed import pid_alive
from cumulus.errors import ComputeError, ComputeTargetNotFoundError

pytestmark = pytest.mark.integration


def worker_pid(run: Run) -> int:
    """The pid of the worker process (the node) executing ``run``."""
    node = wait_until(lambda: run.get_details()["node"], what="the run's node")
    return int(str(node).rsplit(":", 1)[1])


def pids(marker: Path) -> list[int]:
    return [int(x) for x in marker.read_text().split()] if marker.exists() else []


def reasons(run: Run) -> list[str]:
    return [e["reason"] or "" for e in run.get_details()["statusHistory"]]


@pytest.fixture(scope="module")
def flaky(cws: Any) -> ComputeTarget:
    cfg = ClusterConfig(min_nodes=1, max_nodes=2, idle_seconds_before_scaledown=30,
                        max_attempts=2, node=NodeSpec(cpus=1))
    target = ComputeTarget.create(cws, "flaky", cfg)
    target.wait_for_completion(min_node_count=1, timeout_in_minutes=2)
    return target


def test_a_run_whose_node_dies_is_requeued_and_the_node_replaced(
        cws: Any, flaky: ComputeTarget, src: Path, tmp_path: Path) -> None:
    marker = tmp_path / "attempts"
    run = Experiment(cws, "preempt").submit(run_config(src, "attempt.py", marker,
                                                       target="flaky"))
    wait_until(lambda: pids(marker) and run.get_status() == "Running", what="attempt 1")
    wait_until(lambda: len(run.get_metrics().get("seen") or []) == 3, what="its metrics")
    wait_until(lambda: "outputs/attempt1.txt" in run.get_file_names(),
               what="attempt 1's uploaded file")   # the script's upload lands on its own time
    first_script = pids(marker)[0]
    os.kill(worker_pid(run), signal.SIGKILL)          # the node dies mid-run
    run.wait_for_completion(raise_on_error=True)
    assert cws.store.get_run(run.id)["attempt"] == 2
    assert run.get_metrics()["seen"] == [20, 21, 22]                 # the last attempt's
    assert run.get_metrics(attempts="all")["seen"] == [10, 11, 12, 20, 21, 22]
    assert "----- attempt 2: the node running attempt 1 was lost" in run.get_log()
    assert any("requeued: node lost" in r for r in reasons(run))
    # what attempt 1 had uploaded is gone, not mixed with attempt 2's outputs
    assert [f for f in run.get_file_names() if f.startswith("outputs/")] == \
        ["outputs/attempt2.txt"]
    assert "attempt 2: removed 1 output file(s) that an earlier attempt" in run.get_log()
    assert len(pids(marker)) == 2
    assert not pid_alive(first_script), "the dead node's script is still running"
    wait_until(lambda: flaky.get_status().current_node_count >= 1, what="node replaced")


def test_a_run_whose_node_dies_too_often_fails_with_the_reason(
        cws: Any, flaky: ComputeTarget, src: Path, tmp_path: Path) -> None:
    marker = tmp_path / "attempts"
    run = Experiment(cws, "preempt").submit(run_config(src, "attempt.py", marker, "forever",
                                                       target="flaky"))
    for attempt in (1, 2):                 # max_attempts=2: two lost nodes end it
        wait_until(lambda a=attempt: len(pids(marker)) == a and
                   run.get_status() == "Running", what=f"attempt {attempt}")
        os.kill(worker_pid(run), signal.SIGKILL)
        if attempt == 1:
            wait_until(lambda: len(pids(marker)) == 2 or run.get_status() == "Failed",
                       what="requeue")
    wait_until(lambda: run.get_status() == "Failed", what="the run to fail")
    error = cws.store.get_run(run.id)["error"]["message"]
    assert "lost 2 time(s)" in error and "max_attempts 2" in error
    assert not any(pid_alive(p) for p in pids(marker))


@pytest.fixture
def phoenix(cws: Any) -> ComputeTarget:
    cfg = ClusterConfig(min_nodes=0, max_nodes=1, idle_seconds_before_scaledown=30)
    target = ComputeTarget.create(cws, "phoenix", cfg, exist_ok=True)
    target.wait_for_completion(timeout_in_minutes=2)
    return target


def test_a_dead_manager_is_reported_then_restarted_with_its_runs(
        cws: Any, phoenix: ComputeTarget, src: Path, tmp_path: Path) -> None:
    marker = tmp_path / "attempts"
    run = Experiment(cws, "phoenix").submit(run_config(src, "attempt.py", marker,
                                                       target="phoenix"))
    wait_until(lambda: pids(marker) and run.get_status() == "Running", what="attempt 1")
    manager = phoenix.get_status().manager["pid"]
    os.kill(manager, signal.SIGKILL)
    wait_until(lambda: not pid_alive(manager), what="the manager to die")
    status = phoenix.get_status()
    assert status.provisioning_state == "Failed" and not status.manager["alive"]
    assert "is not running" in status.errors[0] and "restarts it" in status.errors[0]
    wait_until(lambda: not pid_alive(pids(marker)[0]), what="the orphaned script to die")
    phoenix.wait_for_completion(timeout_in_minutes=2)            # the next use restarts it
    assert phoenix.get_status().manager["pid"] != manager
    run.wait_for_completion(raise_on_error=True)
    assert cws.store.get_run(run.id)["attempt"] == 2 and len(pids(marker)) == 2


def test_delete_refuses_runs_in_flight_unless_forced(cws: Any, src: Path,
                                                     tmp_path: Path) -> None:
    target = ComputeTarget.create(cws, "doomed", ClusterConfig(max_nodes=1))
    exp = Experiment(cws, "doomed")
    marker = tmp_path / "attempts"
    running = exp.submit(run_config(src, "attempt.py", marker, "forever", target="doomed"))
    queued = exp.submit(run_config(src, "sleep.py", target="doomed"))
    wait_until(lambda: running.get_status() == "Running", what="the run to start")
    extra = exp.submit(run_config(src, "sleep.py", target="doomed"))
    wait_until(lambda: target.get_status().queued_runs == 2, what="two queued runs")
    extra.cancel()                          # canceled while queued: dropped from the queue
    wait_until(lambda: target.get_status().queued_runs == 1, what="the queue to shrink")
    assert "Preparing" not in [e["status"] for e in extra.get_details()["statusHistory"]]
    with pytest.raises(ComputeError) as err:
        target.delete()
    assert "2 run(s) in flight" in str(err.value) and "force=True" in str(err.value)
    assert running.id in str(err.value)
    manager = target.get_status().manager["pid"]
    target.delete(force=True)
    for run in (running, queued):
        assert run.get_status() == "Canceled"
        assert any("deleted with force=True" in r for r in reasons(run))
    assert not pid_alive(manager) and not pid_alive(pids(marker)[0])
    with pytest.raises(ComputeTargetNotFoundError):
        ComputeTarget(cws, "doomed")


CHECKPOINTED = """
import os, sys, time
from cumulus import Run
ckpt = os.path.join(os.environ["CUMULUS_CHECKPOINT_DIR"], "step.txt")
start = int(open(ckpt).read()) + 1 if os.path.exists(ckpt) else 0
print(f"attempt {os.environ['CUMULUS_ATTEMPT']} starts at step {start}", flush=True)
run = Run.get_context()
for step in range(start, 30):
    time.sleep(0.2)
    open(ckpt + ".tmp", "w").write(str(step))
    os.replace(ckpt + ".tmp", ckpt)          # a checkpoint after every step
    run.log("step", step)
print("finished", flush=True)
"""


def test_a_preempted_run_resumes_from_its_checkpoint(cws: Any, tmp_path: Path) -> None:
    from cumulus import ScriptRunConfig

    target = ComputeTarget.create(cws, "spot", ClusterConfig(
        min_nodes=1, max_nodes=1, priority="low", max_attempts=1, max_preemptions=2,
        idle_seconds_before_scaledown=30, node=NodeSpec(cpus=1)), exist_ok=True)
    target.wait_for_completion(min_node_count=1, timeout_in_minutes=2)
    (tmp_path / "train.py").write_text(CHECKPOINTED)
    run = Experiment(cws, "spot").submit(ScriptRunConfig(
        source_directory=str(tmp_path), script="train.py", compute_target="spot"))
    wait_until(lambda: any(n.startswith("outputs/checkpoints/")
                           for n in run.get_file_names()) and
               len(run.get_metrics().get("step") or []) >= 12, what="some checkpoints saved")
    os.kill(worker_pid(run), signal.SIGKILL)        # preempted without notice
    details = run.wait_for_completion(raise_on_error=False, timeout=180)
    assert details["status"] == "Completed", run.get_log()
    log = run.get_log()
    assert "attempt 1 starts at step 0" in log
    resumed = int(log.split("attempt 2 starts at step ")[1].split()[0])
    assert resumed >= 5, log                          # not from the start
    assert "was preempted while Running" in log and "restored 1 checkpoint file" in log
    assert any("requeued: node preempted" in r for r in reasons(run))
    steps = run.get_metrics()["step"]                 # the last attempt: resumed .. 29
    assert steps == list(range(resumed, 30))
    target.delete(force=True)
