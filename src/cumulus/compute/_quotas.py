"""Quota: limits on concurrent runs, nodes and GPUs for the workspace or one compute target.

The limits live in the store; each target's manager enforces them within a couple of seconds
of a change (runs over the quota wait in the queue, saying why), and a run that could never
fit its quota is refused at submit. The workspace-wide quota is shared by every target: a
target gets what the others leave, as they last reported (every 0.5 s), so two targets
starting runs within the same half second may briefly exceed it together.

Example::

    from cumulus.compute import Quota
    Quota.set(ws, gpus=8)                          # the whole workspace: 8 GPUs at once
    Quota.set(ws, "gpu-cluster", runs=4)           # that target: 4 runs at once
    for q in Quota.list(ws):
        print(q.scope, q.limits, q.used)
    Quota.clear(ws, "gpu-cluster")
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cumulus.compute._quota import FIELDS, WORKSPACE, Limits, Usage, check_quota, live_usage
from cumulus.errors import ValidationError

if TYPE_CHECKING:
    from cumulus.workspace import Workspace

_UNSET: Any = object()
_CACHE_SECONDS = 2.0
_cache: dict[str, tuple[float, dict[str, Limits]]] = {}   # store URL -> (read at, quotas)


@dataclass(frozen=True)
class Quota:
    """The limits of one scope (a target's name, or ``*`` for the workspace) and what is in
    use there now (``used`` is None for a target whose manager is not running)."""

    scope: str
    limits: Limits
    used: Usage | None = None

    @property
    def target(self) -> str | None:
        return None if self.scope == WORKSPACE else self.scope

    @classmethod
    def set(cls, ws: Workspace, target: str | None = None, *, runs: Any = _UNSET,
            nodes: Any = _UNSET, gpus: Any = _UNSET) -> Quota:
        """Set limits of the workspace (``target=None``) or of one target; fields not given
        keep their value, ``None`` removes a limit."""
        scope = _scope(ws, target)
        given = {"runs": runs, "nodes": nodes, "gpus": gpus}
        if all(v is _UNSET for v in given.values()):
            raise ValidationError("Give at least one of runs=, nodes=, gpus= (None removes "
                                  "a limit), e.g. Quota.set(ws, 'gpu-cluster', gpus=4).")
        old = _read(ws, fresh=True).get(scope, Limits()).to_dict()
        limits = Limits(**{k: old[k] if v is _UNSET else v for k, v in given.items()})
        if limits.empty:
            ws.store.quotas.delete(scope)
        else:
            ws.store.quotas.set(scope, **limits.to_dict())
        _cache.pop(ws.store_url, None)
        return cls(scope, limits)

    @classmethod
    def clear(cls, ws: Workspace, target: str | None = None) -> bool:
        """Remove every limit of the workspace or of one target; False when it had none."""
        removed = ws.store.quotas.delete(_scope(ws, target))
        _cache.pop(ws.store_url, None)
        return removed

    @classmethod
    def list(cls, ws: Workspace) -> list[Quota]:
        """Every quota with what is in use now, the workspace's first."""
        quotas = _read(ws, fresh=True)
        usage = _usage(ws)
        total = sum(usage.values(), Usage())
        out = [cls(scope, limits, total if scope == WORKSPACE else usage.get(scope))
               for scope, limits in quotas.items()]
        return sorted(out, key=lambda q: (q.scope != WORKSPACE, q.scope))

    def describe(self) -> str:
        """``runs 3/4, nodes -/-, gpus 2/8`` style: used / limit, ``-`` where unlimited."""
        parts = []
        for name in FIELDS:
            limit = getattr(self.limits, name)
            used = "-" if self.used is None else f"{getattr(self.used, name):g}"
            parts.append(f"{name} {used}/{'-' if limit is None else f'{limit:g}'}")
        return ", ".join(parts)


def check_run_quota(ws: Workspace, target: str, request: dict[str, float],
                    node_count: int) -> None:
    """Refuse, before anything is recorded, a run that its quotas could never let start."""
    quotas = _read(ws)
    if quotas:
        check_quota(target, request, node_count,
                    {s: q for s, q in quotas.items() if s in (WORKSPACE, target)})


def _scope(ws: Workspace, target: str | None) -> str:
    if target is None or target == WORKSPACE:
        return WORKSPACE
    from cumulus.compute._target import ComputeTarget

    ComputeTarget(ws, target)        # an unknown name raises, listing the targets
    return target


def _read(ws: Workspace, fresh: bool = False) -> dict[str, Limits]:
    """scope -> Limits, cached a couple of seconds per process (submits read it)."""
    now = time.monotonic()
    hit = _cache.get(ws.store_url)
    if hit is not None and not fresh and now - hit[0] < _CACHE_SECONDS:
        return hit[1]
    quotas = {s: Limits.from_dict(v) for s, v in ws.store.quotas.all().items()}
    _cache[ws.store_url] = (now, quotas)
    return quotas


def _usage(ws: Workspace) -> dict[str, Usage]:
    """target -> what its running manager last reported in use."""
    return live_usage(ws.store.computes.list(), time.time())


__all__ = ["Quota", "check_run_quota"]
