"""The autoscaling and placement policy, tested with literals: desired vs observed state."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cumulus.compute._policy import (
    LEAVING,
    UNUSABLE,
    ClusterView,
    Node,
    Pending,
    ScaleDecision,
    ScaleSettings,
    allocation_state,
    decide,
    fair_merge,
    fair_order,
    fits,
    node_state_counts,
    place,
    releasable,
    view_from_dict,
)

CPU1 = {"cpus": 1.0, "gpus": 0.0}
S = ScaleSettings(min_nodes=0, max_nodes=4, idle_seconds=5.0, node=CPU1)
NOW = 1000.0


def idle(name: str, since: float, cap: dict[str, float] = CPU1) -> Node:
    return Node(name, cap, idle_since=since)


def busy(name: str, cap: dict[str, float] = CPU1, used: dict[str, float] | None = None,
         runs: int = 1) -> Node:
    return Node(name, cap, used=used if used is not None else {"cpus": 1.0}, runs=runs,
                tasks=runs)


def runs(n: int, request: dict[str, float] | None = None) -> tuple[Pending, ...]:
    return tuple(Pending(f"r{i}", request or {"cpus": 1.0}) for i in range(n))


# resources ------------------------------------------------------------------------------
def test_fits_checks_every_requested_resource() -> None:
    assert fits({"cpus": 1}, {"cpus": 1, "gpus": 0})
    assert not fits({"cpus": 2}, {"cpus": 1})
    assert not fits({"gpus": 1}, {"cpus": 4, "gpus": 0})
    assert not fits({"ssd": 1}, {"cpus": 4})          # a resource the node lacks
    assert fits({"cpus": 1, "gpus": 0}, {"cpus": 1})  # zero amounts ask for nothing


def test_releasable_only_idle_long_enough_and_usable_longest_first() -> None:
    nodes = [idle("a", NOW - 6), idle("b", NOW - 5), idle("c", NOW - 4.9), busy("d"),
             Node("e", CPU1, idle_since=NOW - 60, state=LEAVING),
             Node("f", CPU1, idle_since=NOW - 60, state=UNUSABLE),
             Node("g", CPU1, idle_since=None)]
    assert releasable(nodes, NOW, 5.0) == ("a", "b")
    assert releasable(nodes, NOW, 0.0) == ("a", "b", "c")


def test_a_busy_node_is_never_releasable_even_with_an_old_idle_stamp() -> None:
    stale = Node("x", CPU1, runs=1, tasks=1, idle_since=NOW - 600)
    assert releasable([stale], NOW, 5.0) == ()


# placement ------------------------------------------------------------------------------
def test_place_fifo_onto_nodes_with_room() -> None:
    nodes = [idle("a", NOW - 1), idle("b", NOW - 2)]
    assert place(runs(3), nodes) == (("r0", "a"), ("r1", "b"))


def test_place_prefers_busy_then_recently_active_nodes() -> None:
    cap2 = {"cpus": 2.0, "gpus": 0.0}
    nodes = [idle("old", NOW - 50, cap2), idle("new", NOW - 1, cap2),
             busy("busy", cap2, used={"cpus": 1.0})]
    assert place(runs(3), nodes) == (("r0", "busy"), ("r1", "new"), ("r2", "new"))


def test_place_honours_gpu_requests_and_lets_small_runs_backfill() -> None:
    gpu = {"cpus": 2.0, "gpus": 1.0}
    nodes = [busy("g1", gpu, used={"cpus": 1.0, "gpus": 1.0}), idle("c1", NOW, CPU1)]
    pending = (Pending("big", {"cpus": 1.0, "gpus": 1.0}), Pending("small", {"cpus": 1.0}))
    assert place(pending, nodes) == (("small", "g1"),)


def _scan_from_the_start(pending, nodes):  # type: ignore[no-untyped-def]
    """First-fit as place() did it before it resumed per kind of request (the reference)."""
    from cumulus.compute._policy import _placement_order

    free = {n.name: n.free() for n in _placement_order(nodes)}
    out = []
    for item in pending:
        for name, room in free.items():
            if fits(item.request, room):
                for k, v in item.request.items():
                    room[k] = room.get(k, 0.0) - v
                out.append((item.key, name))
                break
    return tuple(out)


@pytest.mark.parametrize("seed", range(20))
def test_place_resuming_per_request_kind_matches_a_scan_from_the_start(seed: int) -> None:
    import random

    rng = random.Random(seed)
    shapes = [{"cpus": 1.0}, {"cpus": 2.0}, {"cpus": 1.0, "gpus": 1.0}, {"cpus": 0.5}]
    nodes = [Node(f"n{i}", {"cpus": float(rng.choice([1, 2, 4])),
                            "gpus": float(rng.choice([0, 0, 1]))}, idle_since=NOW)
             for i in range(rng.randint(1, 6))]
    pending = tuple(Pending(f"r{i}", rng.choice(shapes)) for i in range(rng.randint(0, 40)))
    assert place(pending, nodes) == _scan_from_the_start(pending, nodes)
    # stopping once no kind fits any more gives the same answer
    assert place(pending, nodes, kinds={p.kind for p in pending}) == \
        _scan_from_the_start(pending, nodes)


def test_place_stops_reading_the_queue_once_no_kind_fits() -> None:
    queue = [Pending(f"r{i}", {"cpus": 1.0}) for i in range(1000)]
    queue.insert(1, Pending("big", {"cpus": 8.0}))
    read: list[str] = []

    def lazily() -> Iterator[Pending]:
        for p in queue:
            read.append(p.key)
            yield p

    nodes = [Node("n1", {"cpus": 2.0}, used={"cpus": 1.0})]
    assert place(lazily(), nodes, kinds={p.kind for p in queue}) == (("r0", "n1"),)
    assert read == ["r0", "big", "r1"]      # r1 found no room: nothing after it is read


def test_place_skips_leaving_and_unusable_nodes() -> None:
    nodes = [Node("l", CPU1, state=LEAVING), Node("u", CPU1, state=UNUSABLE)]
    assert place(runs(1), nodes) == ()


# decide: scale up -----------------------------------------------------------------------
def test_nothing_to_do_keeps_min_nodes() -> None:
    assert decide(ClusterView(NOW), S) == ScaleDecision(target=0)
    s = ScaleSettings(min_nodes=2, max_nodes=4, idle_seconds=5, node=CPU1)
    assert decide(ClusterView(NOW), s) == ScaleDecision(target=2, launch=2)


def test_queued_runs_scale_up_to_max_nodes() -> None:
    assert decide(ClusterView(NOW, pending=runs(1)), S) == ScaleDecision(target=1, launch=1)
    assert decide(ClusterView(NOW, pending=runs(8)), S) == ScaleDecision(target=4, launch=4)


def test_nodes_already_launching_count_as_capacity() -> None:
    view = ClusterView(NOW, pending=runs(3), launching=2)
    assert decide(view, S) == ScaleDecision(target=3, launch=1)


def test_several_runs_share_a_node_with_several_cpus() -> None:
    s = ScaleSettings(max_nodes=4, idle_seconds=5, node={"cpus": 4.0})
    assert decide(ClusterView(NOW, pending=runs(5)), s) == ScaleDecision(target=2, launch=2)


def test_queued_runs_use_idle_nodes_before_new_ones() -> None:
    view = ClusterView(NOW, nodes=(idle("a", NOW - 1), busy("b")), pending=runs(2))
    assert decide(view, S) == ScaleDecision(target=3, launch=1)


def test_a_run_no_node_shape_can_hold_is_reported_not_scaled_for() -> None:
    view = ClusterView(NOW, pending=runs(2, {"cpus": 1.0, "gpus": 1.0}))
    assert decide(view, S) == ScaleDecision(target=0, unplaceable=2)


def test_gpu_runs_need_gpu_nodes_even_with_idle_cpu_nodes() -> None:
    s = ScaleSettings(max_nodes=4, idle_seconds=5, node={"cpus": 2.0, "gpus": 1.0})
    view = ClusterView(NOW, nodes=(busy("a", {"cpus": 2.0, "gpus": 1.0},
                                        {"cpus": 1.0, "gpus": 1.0}),),
                       pending=runs(2, {"cpus": 1.0, "gpus": 1.0}))
    assert decide(view, s) == ScaleDecision(target=3, launch=2)


# decide: scale down ---------------------------------------------------------------------
def test_idle_nodes_stay_until_the_grace_is_over() -> None:
    view = ClusterView(NOW, nodes=(busy("a"), idle("b", NOW - 4.99)))
    assert decide(view, S) == ScaleDecision(target=2)


def test_idle_nodes_past_the_grace_are_released_longest_idle_first() -> None:
    view = ClusterView(NOW, nodes=(busy("a"), idle("b", NOW - 5), idle("c", NOW - 9),
                                   idle("d", NOW - 1)))
    assert decide(view, S) == ScaleDecision(target=2, release=("c", "b"))


def test_min_nodes_are_kept_even_when_idle_long() -> None:
    s = ScaleSettings(min_nodes=1, max_nodes=4, idle_seconds=5, node=CPU1)
    view = ClusterView(NOW, nodes=(idle("a", NOW - 60), idle("b", NOW - 30)))
    assert decide(view, s) == ScaleDecision(target=1, release=("a",))


def test_an_idle_node_that_a_queued_run_will_use_is_not_released() -> None:
    view = ClusterView(NOW, nodes=(idle("a", NOW - 60),), pending=runs(1))
    assert decide(view, S) == ScaleDecision(target=1)


def test_lower_max_nodes_never_releases_a_busy_node() -> None:
    s = ScaleSettings(min_nodes=0, max_nodes=1, idle_seconds=5, node=CPU1)
    view = ClusterView(NOW, nodes=(busy("a"), busy("b"), busy("c")))
    assert decide(view, s) == ScaleDecision(target=1)


def test_launching_nodes_no_longer_needed_are_cancelled_first() -> None:
    view = ClusterView(NOW, nodes=(idle("a", NOW - 60),), launching=2)
    assert decide(view, S) == ScaleDecision(target=0, cancel=2, release=("a",))
    view = ClusterView(NOW, pending=runs(1), launching=3)
    assert decide(view, S) == ScaleDecision(target=1, cancel=2)


def test_leaving_nodes_are_neither_capacity_nor_released_again() -> None:
    view = ClusterView(NOW, nodes=(Node("a", CPU1, idle_since=NOW - 60, state=LEAVING),),
                       pending=runs(1))
    assert decide(view, S) == ScaleDecision(target=1, launch=1)


def test_zero_idle_seconds_releases_at_once() -> None:
    s = ScaleSettings(max_nodes=4, idle_seconds=0, node=CPU1)
    view = ClusterView(NOW, nodes=(idle("a", NOW),))
    assert decide(view, s) == ScaleDecision(target=0, release=("a",))


# plain Dask work (e.g. Prefect tasks through task_runner) -------------------------------
def test_plain_dask_tasks_get_a_node_and_keep_it_busy() -> None:
    assert decide(ClusterView(NOW, other_tasks=3), S) == ScaleDecision(target=3, launch=3)
    view = ClusterView(NOW, nodes=(Node("a", CPU1, tasks=1),), other_tasks=1)
    assert decide(view, S) == ScaleDecision(target=1)


# reporting ------------------------------------------------------------------------------
def test_node_state_counts_and_allocation_state() -> None:
    view = ClusterView(NOW, nodes=(busy("a"), idle("b", NOW - 1),
                                   Node("c", CPU1, state=LEAVING),
                                   Node("d", CPU1, state=UNUSABLE)), launching=1)
    assert node_state_counts(view) == {"idle": 1, "running": 1, "preparing": 1,
                                       "leaving": 1, "unusable": 1}
    assert allocation_state(view, ScaleDecision(target=3)) == "Resizing"
    steady = ClusterView(NOW, nodes=(busy("a"), idle("b", NOW - 1)))
    assert allocation_state(steady, ScaleDecision(target=2)) == "Steady"
    assert allocation_state(steady, ScaleDecision(target=1)) == "Resizing"


def test_view_round_trips_through_a_dict() -> None:
    raw = {"now": NOW, "nodes": [{"name": "a", "capacity": CPU1, "used": {}, "runs": 0,
                                  "tasks": 0, "idle_since": NOW - 3, "state": "running"}],
           "pending": [{"key": "k", "request": {"cpus": 1.0}}], "launching": 2,
           "other_tasks": 1, "threads_per_node": 2}
    view = view_from_dict(raw)
    assert view.nodes[0] == idle("a", NOW - 3)
    assert view.pending == (Pending("k", {"cpus": 1.0}),)
    assert (view.launching, view.other_tasks, view.threads_per_node) == (2, 1, 2)


@pytest.mark.parametrize("pending,nodes,expected", [
    (0, 0, 0), (1, 0, 1), (4, 0, 4), (9, 0, 4), (2, 4, 4), (0, 4, 4)])
def test_target_is_bounded_by_max_nodes(pending: int, nodes: int, expected: int) -> None:
    view = ClusterView(NOW, nodes=tuple(busy(f"n{i}") for i in range(nodes)),
                       pending=runs(pending))
    assert decide(view, S).target == expected


def _keys(items: list[Pending]) -> list[str]:
    return [p.key for p in items]


@pytest.mark.parametrize(("pending", "running", "expected"), [
    # a colleague's single run goes before the rest of a busy sweep's queue
    ([("t3", "sweep"), ("t4", "sweep"), ("t5", "sweep"), ("r1", "exp:b")], {"sweep": 2},
     ["r1", "t3", "t4", "t5"]),
    # groups take turns; first come first served within a group and between equals
    ([("a1", "A"), ("a2", "A"), ("b1", "B"), ("b2", "B"), ("c1", "C")], {},
     ["a1", "b1", "c1", "a2", "b2"]),
    # a group already running more waits until the others catch up
    ([("a1", "A"), ("b1", "B"), ("b2", "B"), ("b3", "B")], {"A": 3},
     ["b1", "b2", "b3", "a1"]),
    ([], {"A": 1}, []),
])
def test_fair_order(pending, running, expected) -> None:  # type: ignore[no-untyped-def]
    items = [Pending(k, CPU1, g) for k, g in pending]
    assert _keys(fair_order(items, running)) == expected


def test_fair_order_is_lazy_and_the_same_when_consumed_in_part() -> None:
    from itertools import islice

    items = [Pending(f"{g}{i}", CPU1, g, priority=i % 2) for i in range(30) for g in "ABC"]
    whole = fair_order(items, {"A": 4, "B": 1})
    read: list[str] = []

    def queue(group: str, priority: int) -> Iterator[tuple[int, Pending]]:
        for n, p in enumerate(items):
            if (p.group, p.priority) == (group, priority):
                read.append(p.key)
                yield n, p

    queues = {(pr, g): queue(g, pr) for g in "ABC" for pr in (0, 1)}
    assert _keys(list(islice(fair_merge(queues, {"A": 4, "B": 1}), 5))) == _keys(whole[:5])
    assert len(read) < 12          # a few runs of each queue read, not all 90
    assert len(whole) == len(items) and set(_keys(whole)) == set(_keys(items))


def test_fair_order_then_placement_keeps_backfill() -> None:
    big = Pending("big", {"cpus": 2.0}, "A")
    small = Pending("small", {"cpus": 1.0}, "B")
    order = fair_order([big, small], {"A": 0, "B": 0})
    assert place(order, [Node("n1", {"cpus": 1.0})]) == (("small", "n1"),)


def test_explain_queue() -> None:
    from cumulus.compute._policy import explain_queue

    queue = [{"run": "r1", "request": CPU1}, {"run": "r2", "request": CPU1},
             {"run": "big", "request": {"cpus": 8.0}}]
    busy = explain_queue(queue, CPU1, 2, 2)
    assert [q["position"] for q in busy] == [1, 2, 3]
    assert busy[0]["reason"] == "all 2 node(s) busy (max_nodes 2); first in line"
    assert busy[1]["reason"].endswith("; 1 run(s) ahead")
    assert busy[2]["reason"].startswith("no node of this target can hold {'cpus': 8.0}")
    assert explain_queue(queue[:1], CPU1, 2, 1)[0]["reason"] == \
        "waiting for a node to start (1 of at most 2 up)"
    assert explain_queue(queue[:1], None, None, 3)[0]["reason"] == \
        "all 3 node(s) busy; first in line"


def test_higher_priority_goes_first_then_fair_share() -> None:
    items = [Pending("a1", CPU1, "A"), Pending("a2", CPU1, "A"), Pending("b1", CPU1, "B"),
             Pending("urgent", CPU1, "A", priority=5), Pending("low", CPU1, "C", priority=-1)]
    assert _keys(fair_order(items, {"A": 1})) == ["urgent", "b1", "a1", "a2", "low"]
