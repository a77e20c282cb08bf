"""Quotas: limits on concurrent runs, nodes and GPUs, per workspace and per compute target.

Pure functions over frozen values, like the rest of the policy: the manager turns the
workspace's and its target's quotas (and what the other targets use) into one
:class:`Allowance` with :func:`allowance`; the scheduler plugin then starts only the waiting
runs :func:`admit` lets through, and the autoscaler sizes the cluster for those alone. A run
that could never fit its quota is refused at submit by :func:`check_quota`.

Example::

    >>> a = allowance(Limits(gpus=4), Limits(gpus=6), Usage(gpus=3))
    >>> a.limits.gpus, a.why["gpus"]
    (3.0, 'workspace quota 6, 3 used by other targets')
    >>> ok, waits = admit([Pending("r1", {"gpus": 2}, run="r1")], Usage(runs=1, gpus=2), a)
    >>> ok, waits["r1"]
    ((), 'quota: 2 of 3 GPUs in use (workspace quota 6, 3 used by other targets)')
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from cumulus.compute._policy import Pending
from cumulus.errors import ResourceUnavailableError, ValidationError, allowed_list

FIELDS = ("runs", "nodes", "gpus")
WORKSPACE = "*"          # the scope name of the workspace-wide quota
ALIVE_FOR = 30.0         # a target whose manager reported this recently counts as in use
_NOUN = {"runs": "runs", "nodes": "nodes", "gpus": "GPUs"}


@dataclass(frozen=True)
class Limits:
    """At most ``runs`` runs executing, ``nodes`` nodes up and ``gpus`` GPUs requested by
    executing runs at once; ``None`` is no limit."""

    runs: int | None = None
    nodes: int | None = None
    gpus: float | None = None

    def __post_init__(self) -> None:
        for name in FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or \
                    not math.isfinite(value):
                raise ValidationError(f"quota {name} must be a number or None (no limit), "
                                      f"got {value!r}.")
            if value < 0 or (name != "gpus" and int(value) != value):
                kind = "a number >= 0" if name == "gpus" else "an integer >= 0"
                raise ValidationError(f"quota {name} must be {kind} (or None: no limit), got "
                                      f"{value!r}.")
            object.__setattr__(self, name, float(value) if name == "gpus" else int(value))

    @property
    def empty(self) -> bool:
        return all(getattr(self, name) is None for name in FIELDS)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Limits:
        data = dict(data or {})
        unknown = sorted(set(data) - set(FIELDS))
        if unknown:
            raise ValidationError(f"Unknown quota field(s) {unknown}. Allowed: "
                                  f"{allowed_list(FIELDS)}.")
        return cls(**data)


@dataclass(frozen=True)
class Usage:
    """What is in use: executing runs, nodes up, GPUs requested by executing runs."""

    runs: int = 0
    nodes: int = 0
    gpus: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.runs + other.runs, self.nodes + other.nodes, self.gpus + other.gpus)


@dataclass(frozen=True)
class Allowance:
    """The limits one target runs under, and for each limited field where it comes from."""

    limits: Limits = field(default_factory=Limits)
    why: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"limits": self.limits.to_dict(), "why": dict(self.why)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Allowance:
        data = data or {}
        return cls(Limits(**(data.get("limits") or {})), dict(data.get("why") or {}))


def live_usage(records: Sequence[Mapping[str, Any]], now: float) -> dict[str, Usage]:
    """target -> what its manager last reported in use, for managers that reported within
    ``ALIVE_FOR`` seconds (pure: ``records`` are compute records with their ``state``).

    >>> live_usage([{"name": "a", "state": {"status": "Running", "heartbeat": 9.0,
    ...                                      "running_runs": 2}}], 10.0)
    {'a': Usage(runs=2, nodes=0, gpus=0.0)}
    """
    out: dict[str, Usage] = {}
    for rec in records:
        state = rec.get("state") or {}
        if state.get("status") == "Running" and \
                now - float(state.get("heartbeat") or 0) <= ALIVE_FOR:
            out[str(rec["name"])] = Usage(int(state.get("running_runs") or 0),
                                          int(state.get("current_node_count") or 0),
                                          float(state.get("gpus_in_use") or 0.0))
    return out


def _fmt(value: float) -> str:
    return f"{value:g}"


def allowance(target: Limits, workspace: Limits, others: Usage) -> Allowance:
    """One target's limits: its own quota, and the workspace's less what the workspace's
    other targets use now (never below 0), whichever is lower for each field."""
    limits: dict[str, float | None] = {}
    why: dict[str, str] = {}
    for name in FIELDS:
        own = getattr(target, name)
        shared = getattr(workspace, name)
        left = None if shared is None else max(0.0, shared - getattr(others, name))
        if own is not None and (left is None or own <= left):
            limits[name], why[name] = own, f"target quota {_fmt(own)}"
        elif left is not None:
            limits[name] = left
            why[name] = (f"workspace quota {_fmt(shared)}, {_fmt(getattr(others, name))} used "
                         "by other targets")
    runs, nodes = limits.get("runs"), limits.get("nodes")
    return Allowance(Limits(runs=None if runs is None else int(runs),
                            nodes=None if nodes is None else int(nodes),
                            gpus=limits.get("gpus")), why)


def admit(pending: Iterable[Pending], used: Usage,
          quota: Allowance) -> tuple[tuple[Pending, ...], dict[str, str]]:
    """Which waiting runs (in placement order) may start now within ``quota``, given what this
    target uses; the others map to why they wait. Runs are counted once per run (a
    distributed run's node tasks share their run), GPUs per task.

    >>> q = Allowance(Limits(runs=1), {"runs": "target quota 1"})
    >>> ok, waits = admit([Pending("a", {}, run="a"), Pending("b", {}, run="b")], Usage(), q)
    >>> [p.key for p in ok], waits
    (['a'], {'b': 'quota: 1 of 1 runs in use (target quota 1)'})
    """
    ok: list[Pending] = []
    waits: dict[str, str] = {}
    for item, why in _admission(pending, used, quota):
        if why is None:
            ok.append(item)
        else:
            waits[item.key] = why
    return tuple(ok), waits


def admitted(pending: Iterable[Pending], used: Usage, quota: Allowance) -> Iterator[Pending]:
    """The runs :func:`admit` lets through, lazily (a dispatch takes only what fits)."""
    return (item for item, why in _admission(pending, used, quota) if why is None)


def _admission(pending: Iterable[Pending], used: Usage,
               quota: Allowance) -> Iterator[tuple[Pending, str | None]]:
    limits = quota.limits
    if limits.runs is None and limits.gpus is None:
        yield from ((item, None) for item in pending)
        return
    runs, gpus = used.runs, used.gpus
    started: set[str] = set()
    for item in pending:
        run = item.run or item.key
        new_run = run not in started
        need = float(item.request.get("gpus", 0) or 0)
        if limits.runs is not None and new_run and runs + 1 > limits.runs:
            yield item, _why("runs", runs, limits.runs, quota)
        elif limits.gpus is not None and need and gpus + need > limits.gpus + 1e-9:
            yield item, _why("gpus", gpus, limits.gpus, quota)
        else:
            yield item, None
            runs += int(new_run)
            gpus += need
            started.add(run)


def _why(name: str, used: float, limit: float, quota: Allowance) -> str:
    source = quota.why.get(name)
    return (f"quota: {_fmt(used)} of {_fmt(limit)} {_NOUN[name]} in use"
            + (f" ({source})" if source else ""))


def capped_nodes(min_nodes: int, max_nodes: int, quota: Allowance) -> tuple[int, int]:
    """The target's node bounds under its quota (the quota wins over ``min_nodes``).

    >>> capped_nodes(2, 8, Allowance(Limits(nodes=3)))
    (2, 3)
    """
    cap = quota.limits.nodes
    if cap is None:
        return min_nodes, max_nodes
    return min(min_nodes, cap), max(0, min(max_nodes, cap))


def check_quota(target: str, request: Mapping[str, float], node_count: int,
                quotas: Mapping[str, Limits]) -> None:
    """Refuse (at submit) a run that no quota in ``quotas`` (scope -> limits) could ever let
    start: more GPUs or nodes than the quota allows in all."""
    for scope, limits in quotas.items():
        where = ("the workspace" if scope == WORKSPACE else f"compute target {target!r}")
        flag = "" if scope == WORKSPACE else f" --target {target}"
        if limits.runs == 0:
            raise ResourceUnavailableError(
                f"The quota of {where} allows no run at all (runs 0). Raise it: "
                f"cumulus quota set{flag} --runs 1 (or --runs none)")
        gpus = float(request.get("gpus", 0) or 0) * node_count
        if limits.gpus is not None and gpus > limits.gpus + 1e-9:
            raise ResourceUnavailableError(
                f"The run asks for {_fmt(gpus)} GPU(s) but the quota of {where} allows "
                f"{_fmt(limits.gpus)}, so it could never start. Lower the request, or raise "
                f"the quota: cumulus quota set{flag} --gpus {_fmt(gpus)}")
        if limits.nodes is not None and node_count > limits.nodes:
            raise ResourceUnavailableError(
                f"The run needs {node_count} nodes but the quota of {where} allows "
                f"{limits.nodes}, so it could never start. Lower node_count, or raise the "
                f"quota: cumulus quota set{flag} --nodes {node_count}")


__all__ = ["ALIVE_FOR", "FIELDS", "WORKSPACE", "Allowance", "Limits", "Usage", "admit", "allowance",
           "capped_nodes", "check_quota", "live_usage"]
