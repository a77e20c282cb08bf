"""The launch layer's plan, with literals: one task for a plain run, one whole-node task per
node for a distributed run, each carrying the run's fair-share group and priority."""

from __future__ import annotations

from cumulus.compute._launch import node_key, node_request, plan
from cumulus.specs import ScriptSpec, TaskSpec


def test_a_plain_run_is_one_task_with_its_request() -> None:
    spec = ScriptSpec(script="t.py", share_group="experiment:e", priority=5)
    assert plan("r1", spec, {"cpus": 1.0, "gpus": 1.0}, {"cpus": 4.0}, 3) == [
        TaskSpec(run_id="r1", key="cumulus-run-r1", request={"cpus": 1.0, "gpus": 1.0},
                 rank=0, world=1, attempt_limit=3, group="experiment:e", priority=5)]


def test_a_distributed_run_is_one_whole_node_task_per_node() -> None:
    spec = ScriptSpec(script="t.py", distribution={"type": "pytorch", "node_count": 3})
    tasks = plan("r2", spec, {"cpus": 1.0}, {"cpus": 4.0, "gpus": 2.0}, 2)
    assert [(t.key, t.rank, t.world) for t in tasks] == [
        ("cumulus-run-r2", 0, 3), ("cumulus-run-r2-node1", 1, 3), ("cumulus-run-r2-node2", 2, 3)]
    assert all(t.distributed for t in tasks)
    assert {tuple(sorted(t.request.items())) for t in tasks} == {(("cpus", 4.0), ("gpus", 2.0))}
    assert all(t.group == "r2" and t.attempt_limit == 2 for t in tasks)


def test_a_one_node_distributed_run_is_still_a_distributed_task() -> None:
    spec = ScriptSpec(script="t.py", distribution={"type": "pytorch", "node_count": 1,
                                                   "process_count_per_node": 2})
    (task,) = plan("r3", spec, {"cpus": 1.0}, None, 3)
    assert (task.world, task.distributed) == (1, True)
    assert not plan("r4", ScriptSpec(script="t.py"), {}, None, 3)[0].distributed


def test_node_helpers() -> None:
    assert node_key("x", 0) == "cumulus-run-x" and node_key("x", 2) == "cumulus-run-x-node2"
    assert node_request({"cpus": 1.0, "memory": 5.0}, None) == {"cpus": 1.0, "memory": 5.0}
    assert node_request({"cpus": 8.0}, {"cpus": 4.0}) == {"cpus": 8.0}
