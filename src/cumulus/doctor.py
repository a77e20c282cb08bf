"""Reconciliation on demand: what the store says is running, against what runs.

``reconcile(ws)`` (``cumulus doctor``) restarts what died with work in flight, so nothing waits
for a next submission to be noticed:

- a compute target's manager that died with active runs is restarted; the new manager queues
  those runs again (or fails them past ``max_attempts``), and it re-queues runs recorded with no
  task behind them (see ``Manager.reconcile``);
- a pipeline agent that died with pipeline runs queued or running is restarted; it fails the
  runs whose pipeline process died and runs the queued ones;
- a sweep whose controller died is resumed exactly where it stopped.

``wait_for_completion`` calls :func:`revive_target` for the run it waits on when the run makes
no progress, so a client that waits is never left waiting on a dead manager.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cumulus.workspace import Workspace


def revive_target(ws: Workspace, name: str | None) -> str | None:
    """Restart target ``name``'s manager if it died with active runs; returns what was done."""
    if not name:
        return None
    from cumulus.compute import ComputeTarget
    from cumulus.compute._managed import ManagedBackend

    try:
        backend = ComputeTarget(ws, name).backend
    except Exception:
        return None
    if not isinstance(backend, ManagedBackend):
        return None  # an existing cluster (address): nothing of ours to restart
    state = backend.state
    if backend.alive(state) or backend._starting(state) or state.get("stop_requested"):
        return None
    active = ws.store.active_runs_on(name)
    if not active:
        return None
    backend.ensure_running()
    return (f"compute {name}: its manager was down with {len(active)} active run(s); "
            "restarted it (it queues them again)")


def reconcile(ws: Workspace) -> list[str]:
    """Restart whatever died with work in flight; returns one line per action."""
    actions = [a for a in (revive_target(ws, rec["name"]) for rec in ws.store.computes.list())
               if a]
    actions += revive_pipelines(ws) + _sweeps(ws)
    return actions


def revive_pipelines(ws: Workspace) -> list[str]:
    """Restart the pipeline agent when it died with pipeline runs queued or running."""
    from cumulus.flows._agent import agent_alive, ensure_agent, read_state

    waiting = [r for status in ("Queued", "Starting", "Running", "CancelRequested")
               for r in ws.store.list_runs(kind="pipeline", status=status)]
    if not waiting or agent_alive(read_state(ws)):
        return []
    ensure_agent(ws)
    return [f"pipelines: the agent was down with {len(waiting)} pipeline run(s) queued or "
            "running; restarted it"]


def _sweeps(ws: Workspace) -> list[str]:
    from cumulus.store.status import TERMINAL
    from cumulus.sweeps import SweepRun, _state

    out = []
    done = {s.value for s in TERMINAL}
    for run_id in _state.list_ids(ws.store):
        rec = _state.find(ws.store, run_id)
        if rec is None or rec.controller_alive():
            continue
        if ws.store.get_status(run_id) in done:
            continue
        SweepRun.get(ws, run_id).resume()
        out.append(f"sweep {run_id}: its controller was down; resumed it")
    return out


__all__ = ["reconcile", "revive_target"]
