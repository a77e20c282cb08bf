"""Dask mechanics of the autoscaling policy: an ``Adaptive`` that asks ``decide``.

Every ``interval`` it fetches the scheduler plugin's view, adds the nodes it has asked for but
not yet seen, calls the pure :func:`~._policy.decide`, and applies the decision: start nodes,
cancel ones not yet joined, or retire idle ones, all through the plugin, which re-checks on the
scheduler, at that instant, that each is still releasable (a node that joined since the view
was read is judged as joined; one that has not is kept from getting a run if it joins).

Example::

    adaptive = cluster.adapt(Adaptive=RunAdaptive, settings=settings, interval="200ms")
    adaptive.settings = new_settings      # takes effect at the next interval
"""

from __future__ import annotations

import time
from typing import Any

from distributed.deploy.adaptive import Adaptive

from cumulus.compute._policy import (
    ClusterView,
    ScaleDecision,
    ScaleSettings,
    decide,
    view_from_dict,
)


class RunAdaptive(Adaptive):
    """Scale a Dask cluster to its queued and running runs between min and max nodes."""

    def __init__(self, cluster: Any, settings: ScaleSettings, threads_per_node: int = 1,
                 interval: str | float = "200ms", **kwargs: Any) -> None:
        self.settings = settings
        self.threads_per_node = threads_per_node
        self.last: tuple[ClusterView, ScaleDecision, dict[str, Any]] | None = None
        self._pushed_idle: float | None = None
        kwargs.update(minimum=settings.min_nodes, maximum=settings.max_nodes, wait_count=1)
        super().__init__(cluster, interval=interval, **kwargs)

    def _names(self) -> dict[str, Any]:
        """Planned worker names as strings -> the names the cluster uses."""
        return {str(n): n for n in self.plan}

    async def observe(self) -> tuple[ClusterView, ScaleDecision, dict[str, Any]]:
        settings = self.settings
        if self._pushed_idle != settings.idle_seconds:
            await self.scheduler.cumulus_settings(idle_seconds=settings.idle_seconds)
            self._pushed_idle = settings.idle_seconds
        raw = await self.scheduler.cumulus_view()
        joined = {n["name"] for n in raw["nodes"]}
        launching = len(set(self._names()) - joined)
        view = view_from_dict({**raw, "launching": launching,
                               "threads_per_node": self.threads_per_node})
        decision = decide(view, settings)
        self.last = (view, decision, {"running_runs": raw.get("running_runs", 0),
                                      "gpus_in_use": raw.get("gpus_in_use", 0.0),
                                      "quota_held": raw.get("quota_held", 0),
                                      "setup_failed": raw.get("setup_failed") or {},
                                      "observed_at": time.time()})
        return self.last

    async def target(self) -> int:
        self.minimum, self.maximum = self.settings.min_nodes, self.settings.max_nodes
        _, decision, _ = await self.observe()
        return decision.target

    async def recommendations(self, target: int) -> dict[str, Any]:
        if len(self.plan) != len(self.requested):
            await self.cluster
        assert self.last is not None
        view, decision, _ = self.last
        if decision.launch:
            return {"status": "up", "n": len(self.plan) + decision.launch}
        names = self._names()
        joined = {n.name for n in view.nodes}
        close = [names[n] for n in sorted(set(names) - joined)][:decision.cancel]
        close += [names[n] for n in decision.release if n in names]
        return {"status": "down", "workers": close} if close else {"status": "same"}

    async def scale_down(self, workers: list[Any]) -> None:  # type: ignore[override]
        if not workers:
            return
        # the plugin decides on the scheduler, at this instant, which may go: the view this
        # decision read may be a moment old, and a node that joined since may hold a run
        retired = await self.scheduler.cumulus_retire(names=[str(w) for w in workers])
        names = self._names()
        gone = [names[n] for n in retired if n in names]
        if gone:
            result = self.cluster.scale_down(gone)  # type: ignore[attr-defined]
            if hasattr(result, "__await__"):
                await result
