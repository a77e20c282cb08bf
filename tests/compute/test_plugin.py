"""The scheduler plugin on a real Dask scheduler: its held-run bookkeeping stays in step with
the scheduler under bursts from several clients and cancels, and repairs itself if not."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

import dask
import pytest
from distributed import Client, LocalCluster, fire_and_forget

from cumulus.compute._base import ANNOTATION
from cumulus.compute._plugin import PLUGIN_NAME, CumulusPlugin

pytestmark = pytest.mark.integration


def _nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def _books(dask_scheduler: Any) -> dict[str, Any]:
    plugin = dask_scheduler.plugins[PLUGIN_NAME]
    held = {k for k, ts in dask_scheduler.tasks.items()
            if ts.state == "no-worker" and k in plugin.requests}
    queued = {k for q in plugin.queues.values() for k in q}
    return {"held": sorted(held), "pending": sorted(plugin.pending), "queued": sorted(queued),
            "kinds": sum(plugin.kinds.values())}


@pytest.fixture
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(n_workers=2, threads_per_worker=2, processes=False,
                      dashboard_address=None) as cl:
        yield cl


def _submit(client: Client, run: str, seconds: float, group: str = "", priority: int = 0,
            ) -> Any:
    note = {"request": {"cpus": 1.0}, "store": None, "run": run, "group": group or run,
            "priority": priority}
    with dask.annotate(**{ANNOTATION: note}):
        return client.submit(_nap, seconds, key=f"cumulus-run-{run}", pure=False)


def test_held_runs_stay_in_step_with_the_scheduler_under_bursts(cluster: LocalCluster) -> None:
    rng = random.Random(7)
    with Client(cluster) as one, Client(cluster) as two:
        one.register_plugin(CumulusPlugin())
        kept = []
        for burst in range(12):
            for client in (one, two):
                futures = [_submit(client, f"b{burst}-{id(client)}-{i}",
                                   rng.choice([0.0, 0.01, 0.03]), rng.choice(["a", "b", ""]),
                                   rng.choice([0, 0, 1]))
                           for i in range(rng.randint(1, 10))]
                if len(futures) > 2:
                    client.cancel(futures[:2], force=True)
                    futures = futures[2:]
                for f in futures:
                    fire_and_forget(f)
                kept += futures
            books = one.run_on_scheduler(_books)
            assert books["held"] == books["pending"] == books["queued"], books
            assert bool(books["kinds"]) == bool(books["pending"]), books
        assert all(f.result(timeout=30) >= 0 for f in kept)
        books = one.run_on_scheduler(_books)
        assert books == {"held": [], "pending": [], "queued": [], "kinds": 0}


def _forget_held(dask_scheduler: Any, key: str) -> bool:
    plugin = dask_scheduler.plugins[PLUGIN_NAME]
    was = key in plugin.pending
    plugin._unhold(key)        # as if a hook had missed the transition
    return was


def test_a_held_run_the_plugin_lost_track_of_is_repaired_and_runs(cluster: LocalCluster) -> None:
    with Client(cluster) as client:
        client.register_plugin(CumulusPlugin())
        busy = [_submit(client, f"busy{i}", 1.5) for i in range(4)]   # every slot taken
        waiting = _submit(client, "waiting", 0.0)
        deadline = time.monotonic() + 10
        while "cumulus-run-waiting" not in client.run_on_scheduler(_books)["held"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert client.run_on_scheduler(_forget_held, key="cumulus-run-waiting")
        events: list[Any] = []
        client.subscribe_topic("cumulus", lambda e: events.append(e[1]))
        assert waiting.result(timeout=15) == 0.0
        assert [f.result(timeout=15) for f in busy] == [1.5] * 4
        assert client.run_on_scheduler(_books)["pending"] == []
    assert any(e.get("action") == "held-repaired" and e["held"] == ["cumulus-run-waiting"]
               for e in events), events


def _gives_room_then_naps(seconds: float, give: bool) -> float:
    from distributed import get_worker

    from cumulus.tasks._node import give_back_room

    if give:
        give_back_room(get_worker().get_current_task())
    time.sleep(seconds)
    return time.time()


@pytest.mark.parametrize("give", [True, False])
def test_a_run_that_gives_its_room_back_lets_the_next_run_come_at_once(give: bool) -> None:
    """One node with room for one run (2 cpus, each run asks 2) and two threads: the second
    run starts while the first still runs only if the first gave its room back."""
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as cl, Client(cl) as client:
        client.register_plugin(CumulusPlugin())

        def note(run: str) -> dict[str, Any]:
            return {"request": {"cpus": 2.0}, "store": None, "run": run, "group": run,
                    "priority": 0}

        with dask.annotate(**{ANNOTATION: note("first")}):
            first = client.submit(_gives_room_then_naps, 1.5, give, key="cumulus-run-first",
                                  pure=False)
        with dask.annotate(**{ANNOTATION: note("second")}):
            second = client.submit(time.time, key="cumulus-run-second", pure=False)
        ended, started = first.result(timeout=60), second.result(timeout=60)
        if give:
            assert started < ended - 0.5      # placed while the first one still ran
        else:
            assert started >= ended           # it waited for the first one's room
        assert client.run_on_scheduler(lambda dask_scheduler: sorted(
            dask_scheduler.plugins[PLUGIN_NAME].released)) == []


async def _join(address: str, name: str) -> Any:
    from distributed import Worker

    return await Worker(address, name=name, nthreads=1, dashboard=False)


@pytest.mark.parametrize("released", [True, False])
def test_a_node_released_before_it_joined_gets_no_run(released: bool) -> None:
    """The autoscaler releases a node it asked for before the node joins (its view may be a
    moment old). Should the node join before its cluster stops it, it must get no run: the
    run would be lost, and run again elsewhere, when the node is stopped."""
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cl, Client(cl) as client:
        client.register_plugin(CumulusPlugin(idle_seconds=30.0))
        def note(run: str) -> dict[str, Any]:
            return {"request": {"cpus": 1.0}, "store": None, "run": run, "group": run,
                    "priority": 0}

        with dask.annotate(**{ANNOTATION: note("busy")}):   # returns when it ended
            busy = client.submit(_gives_room_then_naps, 2.0, False, key="cumulus-run-busy",
                                 pure=False)
        while not client.run_on_scheduler(
                lambda dask_scheduler: bool(getattr(dask_scheduler.tasks.get(
                    "cumulus-run-busy"), "processing_on", None))):
            time.sleep(0.01)
        if released:
            assert client.sync(client.scheduler.cumulus_retire, names=["late"]) == ["late"]
        late = client.sync(_join, cl.scheduler_address, "late")
        try:
            # joined: judged as a joined node now, and a new node is not idle long enough
            assert client.sync(client.scheduler.cumulus_retire, names=["late"]) == []
            with dask.annotate(**{ANNOTATION: note("next")}):
                nxt = client.submit(time.time, key="cumulus-run-next", pure=False)
            started, busy_ended = nxt.result(timeout=60), busy.result(timeout=60)
            where = client.run_on_scheduler(lambda dask_scheduler: [
                e[1].get("node") for e in dask_scheduler.get_events("cumulus")
                if e[1].get("action") == "run-placed" and e[1].get("key") == "cumulus-run-next"])
            if released:   # it waited for the busy node
                assert where == ["0"] and started >= busy_ended - 0.1
            else:          # the new node took it at once
                assert where == ["late"] and started < busy_ended - 1.0
        finally:
            client.sync(late.close)
