"""The launch layer: a recorded run becomes the Dask tasks its nodes execute.

:func:`plan` (pure) turns a run's spec and resource request into ``TaskSpec`` s: one task for a
plain run, one whole-node task per node for a distributed run (so no two share a node), all
carrying the run's fair-share group and priority. :func:`place` hands them to a cluster: one
annotated, fire-and-forget Dask task each, confirmed in the background. Every backend
(``local``, ``ssh``, ``kubernetes``, ``azure``, ``address``) submits through these two; a
backend only says what one of its nodes offers.

Example::

    tasks = plan("r1", spec, {"cpus": 1.0}, node={"cpus": 4.0}, attempt_limit=3)
    place(client, tasks, ws.payload(), ws.store_url)
"""

from __future__ import annotations

from typing import Any

from cumulus.compute._base import ANNOTATION, run_key
from cumulus.specs import ScriptSpec, TaskSpec


def node_key(run_id: str, node_rank: int) -> str:
    """Node 0 has the plain run key, so a manager's recovery never starts a second node 0."""
    return run_key(run_id) if node_rank == 0 else f"{run_key(run_id)}-node{node_rank}"


def node_request(request: dict[str, float], node: dict[str, float] | None) -> dict[str, float]:
    """A node task's request: the whole node (its cpus and gpus), so no two share one.

    >>> node_request({"cpus": 1.0}, {"cpus": 4.0, "gpus": 1.0})
    {'cpus': 4.0, 'gpus': 1.0}
    """
    out = dict(request)
    if node:
        for name in ("cpus", "gpus"):
            if node.get(name):
                out[name] = max(float(out.get(name, 0.0)), float(node[name]))
    return out


def plan(run_id: str, spec: ScriptSpec, request: dict[str, float],
         node: dict[str, float] | None, attempt_limit: int) -> list[TaskSpec]:
    """The tasks of run ``run_id`` (pure).

    >>> [t.key for t in plan("r", ScriptSpec(distribution={"node_count": 2}), {}, None, 3)]
    ['cumulus-run-r', 'cumulus-run-r-node1']
    """
    group, priority = spec.share_group or run_id, spec.priority
    if not spec.distribution:
        return [TaskSpec(run_id=run_id, key=run_key(run_id), request=dict(request), rank=0,
                         world=1, attempt_limit=attempt_limit, group=group, priority=priority)]
    whole, world = node_request(request, node), spec.node_count
    return [TaskSpec(run_id=run_id, key=node_key(run_id, k), request=whole, rank=k,
                     world=world, distributed=True, attempt_limit=attempt_limit, group=group,
                     priority=priority)
            for k in range(world)]


def place(client: Any, tasks: list[TaskSpec], ws_payload: dict[str, Any],
          store_url: str) -> None:
    """Queue ``tasks`` on the cluster behind ``client``; returns at once."""
    import dask
    from distributed import fire_and_forget

    from cumulus.compute._submit import confirm_later, run_annotation
    from cumulus.tasks._node import payload_text
    from cumulus.tasks.executor import execute_task

    payload = payload_text(ws_payload)
    futures = []
    for task in tasks:
        with dask.annotate(**{ANNOTATION: run_annotation(
                task.run_id, task.request, store_url, task.group, task.priority)}):
            futures.append(client.submit(execute_task, task, payload, key=task.key,
                                         pure=False, retries=0))
    for future, task in zip(futures, tasks, strict=True):
        fire_and_forget(future)
        confirm_later(client, task.key, store_url, task.run_id)
    del futures


__all__ = ["node_key", "node_request", "place", "plan"]
