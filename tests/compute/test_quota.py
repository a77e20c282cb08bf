"""Quotas: the pure allowance / admission rules with literals, then for real on a local
target (runs over the quota wait, saying why; raising the quota lets them start; a run that
could never fit is refused at submit; the CLI sets and lists them)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from _compute_helpers import run_config, wait_until

from cumulus import Experiment
from cumulus.compute import ClusterConfig, ComputeTarget, Limits, NodeSpec, Quota, Usage
from cumulus.compute._policy import Pending
from cumulus.compute._quota import Allowance, admit, allowance, capped_nodes, check_quota
from cumulus.errors import ComputeTargetNotFoundError, ResourceUnavailableError, ValidationError


def p(key: str, gpus: float = 0, run: str = "") -> Pending:
    return Pending(key, {"cpus": 1, "gpus": gpus}, run=run or key)


@pytest.mark.parametrize("target, shared, others, limits, why", [
    (Limits(), Limits(), Usage(), Limits(), {}),
    (Limits(runs=4), Limits(), Usage(runs=9), Limits(runs=4), {"runs": "target quota 4"}),
    (Limits(gpus=4), Limits(gpus=6), Usage(gpus=1), Limits(gpus=4),
     {"gpus": "target quota 4"}),
    (Limits(gpus=4), Limits(gpus=6), Usage(gpus=5), Limits(gpus=1),
     {"gpus": "workspace quota 6, 5 used by other targets"}),
    (Limits(), Limits(nodes=3), Usage(nodes=7), Limits(nodes=0),
     {"nodes": "workspace quota 3, 7 used by other targets"}),
])
def test_allowance(target, shared, others, limits, why) -> None:  # type: ignore[no-untyped-def]
    got = allowance(target, shared, others)
    assert got.limits == limits
    assert dict(got.why) == why


def test_admit_counts_runs_once_and_gpus_per_task() -> None:
    q = Allowance(Limits(runs=2, gpus=3), {"runs": "target quota 2", "gpus": "target quota 3"})
    # a distributed run's two node tasks count as one run, but as 2 x 1 GPUs
    ok, waits = admit([p("d0", 1, "d"), p("d1", 1, "d"), p("a", 2), p("b", 1)], Usage(), q)
    assert [x.key for x in ok] == ["d0", "d1", "b"]
    assert waits == {"a": "quota: 2 of 3 GPUs in use (target quota 3)"}
    ok, waits = admit([p("a"), p("b")], Usage(runs=2), q)
    assert ok == () and waits["a"] == "quota: 2 of 2 runs in use (target quota 2)"
    assert admit([p("a"), p("b")], Usage(runs=50), Allowance()) == ((p("a"), p("b")), {})


def test_node_bounds_and_submit_refusals() -> None:
    assert capped_nodes(0, 8, Allowance()) == (0, 8)
    assert capped_nodes(4, 8, Allowance(Limits(nodes=2))) == (2, 2)
    assert capped_nodes(0, 8, Allowance(Limits(nodes=0))) == (0, 0)
    check_quota("t", {"gpus": 2}, 1, {"t": Limits(gpus=2)})
    with pytest.raises(ResourceUnavailableError,
                       match=r"asks for 4 GPU\(s\) but the quota of compute target 't' allows "
                             r"2.*cumulus quota set --target t --gpus 4"):
        check_quota("t", {"gpus": 2}, 2, {"t": Limits(gpus=2)})
    with pytest.raises(ResourceUnavailableError, match="quota of the workspace allows 1"):
        check_quota("t", {}, 2, {"*": Limits(nodes=1)})
    with pytest.raises(ResourceUnavailableError, match="allows no run at all"):
        check_quota("t", {}, 1, {"*": Limits(runs=0)})


@pytest.mark.parametrize("bad", [{"runs": -1}, {"runs": 1.5}, {"nodes": "2"}, {"gpus": -1},
                                 {"runs": True}, {"gpus": float("inf")}])
def test_bad_limits_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="quota"):
        Limits(**bad)


@pytest.mark.integration
def test_runs_over_a_quota_wait_saying_why_until_it_is_raised(cws: Any, src: Path) -> None:
    name = "quota2"
    target = ComputeTarget.create(cws, name, ClusterConfig(
        min_nodes=0, max_nodes=3, idle_seconds_before_scaledown=2, node=NodeSpec(cpus=1, gpus=2)))
    with pytest.raises(ValidationError, match="Give at least one"):
        Quota.set(cws, name)
    with pytest.raises(ComputeTargetNotFoundError):
        Quota.set(cws, "no-such-target", runs=1)
    Quota.set(cws, name, runs=1, gpus=1)
    exp = Experiment(cws, "quota")
    with pytest.raises(ResourceUnavailableError, match="quota of compute target 'quota2'"):
        exp.submit(run_config(src, "sleep.py", target=name, resources={"gpus": 2}))
    assert list(exp.get_runs()) == []                     # nothing recorded
    runs = [exp.submit(run_config(src, "sleep.py", 3, target=name)) for _ in range(3)]
    wait_until(lambda: any(r.get_status() == "Running" for r in runs), what="one run starts")
    queue = wait_until(lambda: len(target.get_queue()) == 2 and target.get_queue(),
                       what="two runs wait")
    assert all(q["reason"] == "quota: 1 of 1 runs in use (target quota 1)" for q in queue)
    time.sleep(1.5)                         # held runs start no node either
    assert sum(r.get_status() == "Running" for r in runs) == 1
    assert target.get_status().current_node_count <= 1
    Quota.set(cws, name, runs=None)          # lifted: both start at once
    wait_until(lambda: sum(r.get_status() in ("Running", "Completed") for r in runs) == 3,
               timeout=60, what="the held runs start")
    for r in runs:
        assert r.wait_for_completion(timeout=120)["status"] == "Completed"
    listed = {q.scope: q for q in Quota.list(cws)}
    assert listed[name].limits == Limits(gpus=1)
    assert Quota.clear(cws, name) and not Quota.clear(cws, name)


@pytest.mark.integration
def test_a_workspace_quota_is_shared_by_its_targets(cws: Any, src: Path) -> None:
    cfg = ClusterConfig(min_nodes=0, max_nodes=2, idle_seconds_before_scaledown=2)
    for name in ("share-a", "share-b"):
        ComputeTarget.create(cws, name, cfg)
    Quota.set(cws, runs=1)
    try:
        exp = Experiment(cws, "quota-shared")
        first = exp.submit(run_config(src, "sleep.py", 6, target="share-a"))
        wait_until(lambda: first.get_status() == "Running", what="the first run starts")
        # shared through what each target reports every 0.5 s
        wait_until(lambda: ComputeTarget(cws, "share-a").get_status().running_runs == 1,
                   what="share-a reports its run")
        time.sleep(1.0)
        second = exp.submit(run_config(src, "sleep.py", 0.1, target="share-b"))
        queue = wait_until(lambda: ComputeTarget(cws, "share-b").get_queue(), timeout=30,
                           what="the second run waits")
        assert queue[0]["reason"] == ("quota: 0 of 0 runs in use (workspace quota 1, 1 used "
                                      "by other targets)"), queue
        assert second.get_status() == "Queued"
        assert second.wait_for_completion(timeout=120)["status"] == "Completed"
        assert second.get_details()["startTimeUtc"] >= first.get_details()["endTimeUtc"]
    finally:
        Quota.clear(cws)


@pytest.mark.integration
def test_quota_cli(cws: Any) -> None:
    import os
    import subprocess
    import sys

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cumulus.cli._entry", "quota", *args],
                              cwd=cws.root, capture_output=True, text=True, timeout=120,
                              env={**os.environ, "COLUMNS": "120"})

    out = cli("set", "--gpus", "8", "--runs", "none")
    assert out.returncode == 0, out.stderr
    assert "quota of the workspace: runs no limit, nodes no limit, gpus 8" in out.stdout
    out = cli("list")
    assert out.returncode == 0 and "workspace" in out.stdout and "/8" in out.stdout, out
    out = cli("set", "--gpus", "lots")
    assert out.returncode != 0 and "not a number" in out.stderr
    out = cli("set", "--target", "nope", "--runs", "1")
    assert out.returncode == 1 and "nope" in out.stderr and "local" in out.stderr, out.stderr
    assert "removed the quota of the workspace" in cli("clear").stdout
    assert Quota.list(cws) == []


def test_live_usage_counts_only_managers_that_reported_lately() -> None:
    from cumulus.compute._quota import live_usage

    records = [{"name": "a", "state": {"status": "Running", "heartbeat": 95.0,
                                       "running_runs": 2, "current_node_count": 1,
                                       "gpus_in_use": 1.0}},
               {"name": "stale", "state": {"status": "Running", "heartbeat": 10.0,
                                           "running_runs": 9}},
               {"name": "stopped", "state": {"status": "Stopped", "heartbeat": 99.0}}]
    assert live_usage(records, 100.0) == {"a": Usage(runs=2, nodes=1, gpus=1.0)}
