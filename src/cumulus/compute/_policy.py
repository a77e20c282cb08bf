"""The autoscaling and placement policy: pure functions of frozen snapshots.

Nothing here touches Dask, the store or the clock. The scheduler plugin builds a
:class:`ClusterView` (observed state), the manager adds the nodes it has asked for but not yet
seen, and :func:`decide` returns the desired state. :func:`place` decides which queued run goes
to which node; :func:`releasable` says which nodes may be released now, and the scheduler plugin
enforces that same function in ``valid_workers_downscaling``.

Example::

    view = ClusterView(now=100.0, pending=({"cpus": 1},) * 3)
    decide(view, ScaleSettings(min_nodes=0, max_nodes=2, idle_seconds=5, node={"cpus": 1}))
    # ScaleDecision(target=2, launch=2, cancel=0, release=(), unplaceable=0)
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

Resources = Mapping[str, float]

USABLE = "running"
LEAVING = "leaving"
UNUSABLE = "unusable"
PREPARING = "preparing"      # joined, running its node_setup: takes no run yet
SETUP_FAILED = "setup-failed"  # its node_setup failed: takes no run, released when idle


@dataclass(frozen=True)
class Node:
    """A node that has joined the cluster, as the scheduler sees it.

    ``used`` sums the requests of the runs placed on it; ``tasks`` counts every task it is
    processing (runs and plain Dask work); ``idle_since`` is when it last became idle.
    """

    name: str
    capacity: Resources
    used: Resources = field(default_factory=dict)
    runs: int = 0
    tasks: int = 0
    idle_since: float | None = None
    state: str = USABLE

    @property
    def busy(self) -> bool:
        return self.tasks > 0 or self.runs > 0

    def free(self) -> dict[str, float]:
        return {k: float(v) - float(self.used.get(k, 0)) for k, v in self.capacity.items()}


@dataclass(frozen=True)
class Pending:
    """A run waiting for a node: its key, resource request, fair-share group (its sweep or
    pipeline, else its experiment), priority and run id."""

    key: str
    request: Resources
    group: str = ""
    priority: int = 0
    run: str = ""               # the run id (a distributed run's node tasks share it)
    submitted: float = 0.0      # when it was queued (epoch seconds): the oldest goes first

    @cached_property
    def kind(self) -> tuple[tuple[str, float], ...]:
        """The request as a hashable kind: runs of one kind fit the same nodes."""
        return request_kind(self.request)


def request_kind(request: Resources) -> tuple[tuple[str, float], ...]:
    return tuple(sorted((k, float(v)) for k, v in request.items() if v))


@dataclass(frozen=True)
class ClusterView:
    """Observed state of a cluster at time ``now``."""

    now: float
    nodes: tuple[Node, ...] = ()
    pending: tuple[Pending, ...] = ()
    launching: int = 0          # nodes asked for that have not joined yet
    other_tasks: int = 0        # plain Dask tasks (not runs) processing or waiting
    threads_per_node: int = 1


@dataclass(frozen=True)
class ScaleSettings:
    """The three knobs of a cluster plus the capacity of one new node."""

    min_nodes: int = 0
    max_nodes: int = 1
    idle_seconds: float = 120.0
    node: Resources = field(default_factory=lambda: {"cpus": 1})


@dataclass(frozen=True)
class ScaleDecision:
    """Desired state: ``target`` nodes; start ``launch``, cancel ``cancel`` not yet joined,
    release the named idle nodes. ``unplaceable`` runs fit no node of this shape at all."""

    target: int
    launch: int = 0
    cancel: int = 0
    release: tuple[str, ...] = ()
    unplaceable: int = 0


# resources -------------------------------------------------------------------------------
def fits(request: Resources, free: Resources) -> bool:
    """True when every amount in ``request`` is available in ``free``.

    >>> fits({"cpus": 1}, {"cpus": 2, "gpus": 0})
    True
    >>> fits({"gpus": 1}, {"cpus": 2, "gpus": 0})
    False
    """
    return all(float(amount) <= float(free.get(name, 0)) + 1e-9
               for name, amount in request.items() if amount)


def _take(free: dict[str, float], request: Resources) -> None:
    for name, amount in request.items():
        free[name] = free.get(name, 0.0) - float(amount)


def idle_for(node: Node, now: float) -> float:
    """Seconds the node has been idle (0 while busy)."""
    if node.busy or node.idle_since is None:
        return 0.0
    return max(0.0, now - node.idle_since)


def releasable(nodes: Sequence[Node], now: float, idle_seconds: float) -> tuple[str, ...]:
    """Usable nodes idle for at least ``idle_seconds``, longest idle first. Never a busy one."""
    ok = [n for n in nodes if n.state == USABLE and not n.busy and n.idle_since is not None
          and now - n.idle_since >= idle_seconds]
    ok.sort(key=lambda n: (n.idle_since, n.name))
    return tuple(n.name for n in ok)


def failed_releasable(nodes: Sequence[Node], now: float, idle_seconds: float) -> tuple[str, ...]:
    """Nodes whose node_setup failed, once idle for ``idle_seconds`` (their log has been
    read by then): released, so that a fresh node tries the setup again.

    >>> failed_releasable([Node("f", {}, idle_since=0.0, state=SETUP_FAILED)], 10.0, 5.0)
    ('f',)
    """
    return tuple(n.name for n in nodes if n.state == SETUP_FAILED and not n.busy
                 and n.idle_since is not None and now - n.idle_since >= idle_seconds)


# placement -------------------------------------------------------------------------------
def _placement_order(nodes: Sequence[Node]) -> list[Node]:
    """Busiest first, then the most recently active: idle nodes drain and can be released."""
    usable = [n for n in nodes if n.state == USABLE]
    return sorted(usable, key=lambda n: (not n.busy, -(n.idle_since or math.inf), n.name))


def fair_order(pending: Sequence[Pending], running: Mapping[str, int]) -> list[Pending]:
    """Waiting runs in fair-share order: higher ``priority`` first; then each next run comes
    from the group with the fewest runs executing (counting those ordered before it), oldest
    first within a group; ties go to the group whose oldest run came first. So a sweep of
    1,000 queued trials does not starve a colleague's single run: it goes next.

    >>> [p.key for p in fair_order([Pending("a1", {}, "A"), Pending("a2", {}, "A"),
    ...                             Pending("b1", {}, "B")], {"A": 2})]
    ['b1', 'a1', 'a2']
    """
    queues: dict[tuple[int, str], list[tuple[Any, Pending]]] = {}
    for i, p in enumerate(pending):
        queues.setdefault((p.priority, p.group), []).append((i, p))
    return list(fair_merge({k: iter(q) for k, q in queues.items()}, running))


def fair_merge(queues: Mapping[tuple[int, str], Iterator[tuple[Any, Pending]]],
               running: Mapping[str, int]) -> Iterator[Pending]:
    """:func:`fair_order` over runs already queued per ``(priority, group)``, each queue
    yielding ``(order, run)`` oldest first (``order``: the run's place in the whole queue).

    Lazy: taking the first k runs reads k + one per queue, so the dispatch that follows each
    finished run does not walk a queue of thousands.
    """
    for level in sorted({priority for priority, _ in queues}, reverse=True):
        # (runs of the group executing or ordered so far, order of its next run, tiebreak)
        heap: list[tuple[int, Any, int, Pending, Iterator[tuple[Any, Pending]]]] = []
        for n, ((priority, group), queue) in enumerate(queues.items()):
            head = next(queue, None) if priority == level else None
            if head is not None:
                heap.append((int(running.get(group, 0)), head[0], n, head[1], queue))
        heapq.heapify(heap)
        while heap:
            load, _, n, item, queue = heapq.heappop(heap)
            yield item
            head = next(queue, None)
            if head is not None:
                heapq.heappush(heap, (load + 1, head[0], n, head[1], queue))


def explain_queue(queue: Sequence[Mapping[str, Any]], node: Resources | None,
                  max_nodes: int | None, nodes_now: int) -> list[dict[str, Any]]:
    """Each waiting run (in placement order) with its position and why it waits.

    >>> explain_queue([{"run": "r1", "request": {"cpus": 1}}], {"cpus": 1}, 1, 1)[0]["reason"]
    'all 1 node(s) busy (max_nodes 1); first in line'
    """
    out = []
    for i, item in enumerate(queue):
        request = item.get("request") or {}
        if item.get("quota"):
            reason = str(item["quota"])
        elif node is not None and not fits(request, node):
            reason = f"no node of this target can hold {dict(request)} (a node has {dict(node)})"
        elif max_nodes is not None and nodes_now < max_nodes:
            reason = f"waiting for a node to start ({nodes_now} of at most {max_nodes} up)"
        else:
            busy = (f"all {nodes_now} node(s) busy" + (f" (max_nodes {max_nodes})"
                                                       if max_nodes is not None else ""))
            reason = busy + ("; first in line" if i == 0 else f"; {i} run(s) ahead")
        out.append({**item, "position": i + 1, "reason": reason})
    return out


class _FirstFit:
    """First-fit over capacities that only shrink (or grow by appended bins).

    A request that did not fit a bin never fits it later, so each kind of request resumes
    its scan where it last stopped: the same answer as scanning from the first bin each time,
    in linear time for a queue of look-alike runs instead of quadratic.

    >>> ff = _FirstFit([{"cpus": 1.0}, {"cpus": 2.0}])
    >>> [ff.place({"cpus": 2}), ff.place({"cpus": 1}), ff.place({"cpus": 1})]
    [1, 0, None]
    """

    def __init__(self, bins: list[dict[str, float]]) -> None:
        self.bins = bins
        self.start: dict[tuple[tuple[str, float], ...], int] = {}

    def place(self, request: Resources,
              kind: tuple[tuple[str, float], ...] | None = None) -> int | None:
        """Index of the first bin holding ``request`` (which is taken from it), else None."""
        kind = request_kind(request) if kind is None else kind
        i = self.start.get(kind, 0)
        while i < len(self.bins) and not fits(request, self.bins[i]):
            i += 1
        self.start[kind] = i
        if i == len(self.bins):
            return None
        _take(self.bins[i], request)
        return i


def place(pending: Iterable[Pending], nodes: Sequence[Node],
          kinds: Collection[tuple[tuple[str, float], ...]] | None = None,
          ) -> tuple[tuple[str, str], ...]:
    """Assign queued runs to nodes with room, first come first served, smaller runs may
    backfill behind a big one. Returns ``(run key, node name)`` pairs.

    ``kinds``, every request kind among ``pending`` (:attr:`Pending.kind`), lets placement
    stop as soon as no kind fits any node any more, instead of walking the rest of the queue:
    the same answer, in time proportional to what it places.

    >>> place([Pending("a", {"cpus": 1})], [Node("n1", {"cpus": 1})])
    (('a', 'n1'),)
    """
    order = _placement_order(nodes)
    free = _FirstFit([n.free() for n in order])
    left = set(kinds) if kinds is not None else None
    out: list[tuple[str, str]] = []
    for item in pending:
        i = free.place(item.request, item.kind)
        if i is not None:
            out.append((item.key, order[i].name))
        elif left is not None:
            left.discard(item.kind)      # capacities only shrink: it never fits again
            if not left:
                break
    return tuple(out)


def _pack_new(requests: Sequence[Resources], shape: Resources, limit: int) -> tuple[int, int]:
    """(new nodes of ``shape`` needed for ``requests``, at most ``limit``: more could never be
    launched, and packing a long queue into one node each would cost its length squared;
    requests that fit no such node).

    >>> _pack_new([{"cpus": 1.0}] * 1000 + [{"cpus": 9.0}], {"cpus": 2.0}, 3)
    (3, 1)
    """
    bins = _FirstFit([])
    unplaceable = 0
    for req in requests:
        if not fits(req, shape):
            unplaceable += 1
        elif bins.place(req) is None and len(bins.bins) < limit:
            bins.bins.append({k: float(v) for k, v in shape.items()})
            bins.place(req)
    return len(bins.bins), unplaceable


# the decision ----------------------------------------------------------------------------
def decide(view: ClusterView, settings: ScaleSettings) -> ScaleDecision:
    """Desired node count and the actions that move the observed state towards it.

    Demand counts nodes hosting work, idle or launching nodes that queued runs would use, and
    new nodes for the rest. Idle nodes are kept until they have been idle for
    ``idle_seconds``; ``min_nodes`` and ``max_nodes`` bound the result.
    """
    usable = [n for n in view.nodes if n.state == USABLE]
    preparing = sum(1 for n in view.nodes if n.state == PREPARING)
    failed = [n for n in view.nodes if n.state == SETUP_FAILED]
    launching = view.launching + preparing       # joined but not ready: capacity coming
    shape = {k: float(v) for k, v in settings.node.items()}
    # capacity that exists (busiest first) or is coming (name None)
    ordered = _placement_order(usable)
    names: list[str | None] = [n.name for n in ordered]
    slots = _FirstFit([n.free() for n in ordered])
    names += [None] * launching
    slots.bins += [dict(shape) for _ in range(launching)]
    taken: set[int] = set()
    leftover: list[Resources] = []
    for item in view.pending:
        i = slots.place(item.request)
        if i is None:
            leftover.append(item.request)
        else:
            taken.add(i)
    used = {names[i] for i in taken if names[i] is not None}
    launched_used = sum(1 for i in taken if names[i] is None)
    new_nodes, unplaceable = _pack_new(leftover, shape, settings.max_nodes)
    hosting = {n.name for n in usable if n.busy} | used
    gone = set(releasable(usable, view.now, settings.idle_seconds)) - hosting
    waiting = len(usable) - len(hosting) - len(gone)    # idle, grace not over yet: kept
    other = math.ceil(view.other_tasks / max(1, view.threads_per_node))
    other = max(0, other - len(hosting) - waiting)      # plain Dask work beyond those nodes
    target = len(hosting) + waiting + launched_used + new_nodes + other
    # nodes whose setup failed still take room under max_nodes until they are released
    room = max(0, settings.max_nodes - len(failed))
    target = max(min(settings.min_nodes, room), min(room, target))
    retry = failed_releasable(failed, view.now, settings.idle_seconds)
    have = len(usable) + launching
    if target >= have:
        return ScaleDecision(target=target, launch=target - have, release=retry,
                             unplaceable=unplaceable)
    surplus = have - target
    cancel = max(0, min(surplus, view.launching - launched_used))
    candidates = [n for n in releasable(usable, view.now, settings.idle_seconds) if n in gone]
    release = tuple(candidates[:surplus - cancel]) + retry
    return ScaleDecision(target=target, cancel=cancel, release=release, unplaceable=unplaceable)


# reporting -------------------------------------------------------------------------------
def node_state_counts(view: ClusterView) -> dict[str, int]:
    """Counts by state as the managed service reports them."""
    counts = {"idle": 0, "running": 0, "preparing": view.launching, "leaving": 0, "unusable": 0}
    for n in view.nodes:
        if n.state == LEAVING:
            counts["leaving"] += 1
        elif n.state in (UNUSABLE, SETUP_FAILED):
            counts["unusable"] += 1
        elif n.state == PREPARING:
            counts["preparing"] += 1
        elif n.busy:
            counts["running"] += 1
        else:
            counts["idle"] += 1
    return counts


def allocation_state(view: ClusterView, decision: ScaleDecision) -> str:
    """``Steady`` when the cluster has the nodes it wants and none are coming or going."""
    counts = node_state_counts(view)
    usable = len(view.nodes) - counts["leaving"] - counts["unusable"]
    steady = usable == decision.target and not counts["preparing"] and not counts["leaving"]
    return "Steady" if steady else "Resizing"


def view_from_dict(data: Mapping[str, Any]) -> ClusterView:
    """Rebuild a view sent over the wire (see the scheduler plugin)."""
    nodes = tuple(Node(**n) for n in data.get("nodes", ()))
    pending = tuple(Pending(p["key"], p["request"]) for p in data.get("pending", ()))
    return ClusterView(now=float(data["now"]), nodes=nodes, pending=pending,
                       launching=int(data.get("launching", 0)),
                       other_tasks=int(data.get("other_tasks", 0)),
                       threads_per_node=int(data.get("threads_per_node", 1)))
