"""The cumulus scheduler plugin: places runs on nodes, tracks idleness, records lost runs.

It lives on the Dask scheduler (in the manager process for ``local``) and does four things:

- **Placement.** A run task (key ``cumulus-run-<id>``, annotated ``cumulus``) is held on the
  scheduler (restricted to a worker that does not exist) until :func:`~._policy.place` finds a
  node with room for its request; then it is restricted to that node and sent there. Queued
  runs therefore wait on the scheduler, not behind a busy node, and a node's death only
  touches runs that were really executing on it. A run whose script exited cleanly with
  nothing to upload gives its room back at once (an event on :data:`ROOM_TOPIC`): only its
  final write remains, and the next run is sent while it is made, to start when its task
  returns, instead of a scheduler round trip later.
- **Idleness.** It records when each node last became idle. ``valid_workers_downscaling``
  lets the scheduler close only nodes that :func:`~._policy.releasable` allows: idle for
  ``idle_seconds`` and never busy.
- **Lost runs.** A run task that errs on the scheduler (``KilledWorker`` after its node died
  ``max_attempts`` times) has nobody waiting on it: the plugin marks the run Failed in the
  store with the reason. Held runs that were canceled in the store are dropped.
- **Observation.** The handler ``cumulus_view`` returns a :class:`~._policy.ClusterView` as a
  dict; the manager's adaptive loop decides from it. Events go to the topic ``cumulus``.

Example::

    client.register_plugin(CumulusPlugin(idle_seconds=120))
    view = client.sync(client.scheduler.cumulus_view)      # what the manager decides from
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from operator import attrgetter
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin

from cumulus.compute._base import ANNOTATION
from cumulus.compute._policy import (
    LEAVING,
    PREPARING,
    SETUP_FAILED,
    UNUSABLE,
    USABLE,
    Node,
    Pending,
    failed_releasable,
    fair_merge,
    fair_order,
    place,
    releasable,
)
from cumulus.compute._quota import Allowance, Usage, admit, admitted
from cumulus.tasks._node import ROOM_TOPIC

logger = logging.getLogger("cumulus.compute")

PLUGIN_NAME = "cumulus"
HOLD = "cumulus-unplaced"           # a worker restriction no worker can satisfy
EVENT_TOPIC = "cumulus"
RECONCILE_INTERVAL = 1.0
#: seconds the scheduler batches messages to a node: run tasks are few and start the moment a
#: slot frees, so latency wins over batching (Dask's default is 5 ms)
STREAM_INTERVAL = 0.001
TERMINAL = ("Completed", "Failed", "Canceled")
FINISHED_KEPT = 10_000
#: seconds a node released before it joined gets no run, should it join: its cluster stops it
#: well within that (and should it not, the node is used rather than kept idle for good)
CANCEL_HOLD = 60.0
SETUP_REPORTS_KEPT = 200


class CumulusPlugin(SchedulerPlugin):
    """Run placement, idle tracking and lost-run recording on a Dask scheduler."""

    name = PLUGIN_NAME
    idempotent = True

    def __init__(self, idle_seconds: float | None = None, node_setup: bool = False) -> None:
        self.idle_seconds = idle_seconds
        self.node_setup = node_setup        # new nodes wait for their setup's report

    # lifecycle ---------------------------------------------------------------------------
    async def start(self, scheduler: Any) -> None:
        self.scheduler = scheduler
        self.loop = asyncio.get_running_loop()
        self.requests: dict[str, dict[str, float]] = {}     # run key -> resource request
        # run key -> (store url, run id): where a lost run is recorded; None for a bare task
        self.origin: dict[str, tuple[str | None, str | None]] = {}
        self.items: dict[str, Pending] = {}                 # run key -> as the policy sees it
        # the held runs again, per (priority, group), oldest first, and their request kinds:
        # kept as runs come and go so that a dispatch reads only what it places
        self.queues: dict[tuple[int, str], dict[str, None]] = {}
        self.kinds: Counter[tuple[tuple[str, float], ...]] = Counter()
        self.last_submitted = 0.0
        self.pending: dict[str, None] = {}                  # held run keys, FIFO
        # processing run keys whose room is free again: their script is done (see log_event)
        self.released: set[str] = set()
        self.idle_since: dict[str, float] = {}              # worker address -> time
        self.retiring: set[str] = set()                     # worker addresses
        # names of nodes released before they joined -> when: no run if they join still
        self.cancelled: dict[str, float] = {}
        self.preparing: set[str] = set()                    # running node_setup
        self.failed: set[str] = set()                       # node_setup failed
        self.setup: dict[str, dict[str, Any]] = {}          # node name -> last setup report
        self.finished: dict[str, None] = {}                 # recently ended run keys
        self.names: dict[str, str] = {a: str(ws.name) for a, ws in scheduler.workers.items()}
        self.dispatch_scheduled = False
        self.quota = Allowance()                            # pushed by the manager
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="cumulus-store")
        self.stores: dict[str, Any] = {}
        scheduler.handlers.update({"cumulus_view": self.view_handler,
                                   "cumulus_known": self.known_handler,
                                   "cumulus_settings": self.settings_handler,
                                   "cumulus_quota": self.quota_handler,
                                   "cumulus_node_setup": self.node_setup_handler,
                                   "cumulus_setup_reports": self.setup_reports_handler,
                                   "cumulus_node_setup_mode": self.node_setup_mode_handler,
                                   "cumulus_queue": self.queue_handler,
                                   "cumulus_retire": self.retire_handler})
        now = time.time()
        for ws in scheduler.workers.values():
            if not ws.processing:
                self.idle_since[ws.address] = now
            if self.node_setup:
                self.preparing.add(ws.address)
        self.reconciler = self.loop.create_task(self._reconcile_forever())

    async def close(self) -> None:
        task = getattr(self, "reconciler", None)
        if task is not None:
            task.cancel()
        pool = getattr(self, "pool", None)
        if pool is not None:
            pool.shutdown(wait=False)

    # hooks -------------------------------------------------------------------------------
    def update_graph(self, scheduler: Any, *, annotations: dict[str, dict[Any, Any]],
                     **kwargs: Any) -> None:
        for key, info in (annotations.get(ANNOTATION) or {}).items():
            ts = scheduler.tasks.get(key)
            if ts is None or not isinstance(key, str) or ts.state != "released":
                continue
            info = info if isinstance(info, dict) else {}
            self.requests[key] = {k: float(v) for k, v in (info.get("request") or {}).items()}
            # strictly increasing: the queue order of runs submitted in one batch is theirs
            self.last_submitted = max(time.time(), self.last_submitted + 1e-6)
            self.origin[key] = (info.get("store"), info.get("run"))
            self.items[key] = Pending(key, self.requests[key], str(info.get("group") or key),
                                      int(info.get("priority") or 0),
                                      str(info.get("run") or key), self.last_submitted)
            ts.worker_restrictions = {HOLD}
            ts.loose_restrictions = False
            self._hold(key)
            self._event("run-queued", key=key)
        self._schedule_dispatch()

    def log_event(self, topic: str, msg: Any) -> None:
        """A run's node has room again: its script exited cleanly with nothing to upload, so
        only the run's final write remains (``tasks._node.give_back_room``)."""
        if topic != ROOM_TOPIC or not isinstance(msg, dict):
            return
        key = msg.get("key")
        ts = self.scheduler.tasks.get(key)
        if ts is not None and ts.state == "processing" and key in self.requests:
            self.released.add(key)
            self._schedule_dispatch()

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        if "processing" in (start, finish):
            self._refresh_idle()
        if start == "processing":
            self.released.discard(key)
        if key not in self.requests:
            return
        if finish == "no-worker":
            self._hold(key)
            self._schedule_dispatch()
        elif finish == "processing":
            self._unhold(key)
        if start == "processing":
            self._schedule_dispatch()        # room freed, or the node died
        if finish == "erred":
            self._lost(key, kwargs)
        if finish in ("erred", "forgotten"):
            self.finished[key] = None
            if len(self.finished) > FINISHED_KEPT:
                self.finished.pop(next(iter(self.finished)))
            self._unhold(key)
            self.requests.pop(key, None)
            self.origin.pop(key, None)
            self.items.pop(key, None)

    def _hold(self, key: str) -> None:
        """``key`` waits for a node (again, if its node died: it keeps its turn)."""
        if key in self.pending:
            return
        self.pending[key] = None
        item = self.items.get(key)
        if item is None:
            return
        queue = self.queues.setdefault((item.priority, item.group), {})
        last = next(reversed(queue), None)
        queue[key] = None
        if last is not None and self.items[last].submitted > item.submitted:   # requeued
            ordered = sorted(queue, key=lambda k: self.items[k].submitted)
            queue.clear()
            queue.update(dict.fromkeys(ordered))
        self.kinds[item.kind] += 1

    def _unhold(self, key: str) -> None:
        if key not in self.pending:
            return
        del self.pending[key]
        item = self.items.get(key)
        if item is None:
            return
        queue = self.queues.get((item.priority, item.group))
        if queue is not None:
            queue.pop(key, None)
            if not queue:
                del self.queues[(item.priority, item.group)]
        self.kinds[item.kind] -= 1
        if self.kinds[item.kind] <= 0:
            del self.kinds[item.kind]

    def add_worker(self, scheduler: Any, worker: str) -> None:
        ws = scheduler.workers.get(worker)
        self.names[worker] = str(ws.name) if ws is not None else worker
        self.idle_since[worker] = time.time()
        if self.node_setup:
            self.preparing.add(worker)
        stream = getattr(scheduler, "stream_comms", {}).get(worker)
        if stream is not None:      # a freed slot's next run leaves at once (Dask: 5 ms)
            stream.interval = STREAM_INTERVAL
        self._event("node-added", node=self.names[worker])
        self._schedule_dispatch()

    def remove_worker(self, scheduler: Any, worker: str, **kwargs: Any) -> None:
        self.idle_since.pop(worker, None)
        self.retiring.discard(worker)
        self.preparing.discard(worker)
        self.failed.discard(worker)
        name = self.names.pop(worker, worker)
        self.cancelled.pop(name, None)
        self._event("node-removed", node=name)

    def valid_workers_downscaling(self, scheduler: Any, workers: list[Any]) -> list[Any]:
        """Only nodes idle for ``idle_seconds`` (never busy ones) may be closed."""
        if self.idle_seconds is None:
            return [ws for ws in workers if not ws.processing]
        nodes = [self._node(ws) for ws in workers]
        now = time.time()
        ok = {*releasable(nodes, now, self.idle_seconds),
              *failed_releasable(nodes, now, self.idle_seconds)}
        return [ws for ws in workers if str(ws.name) in ok]

    # observation -------------------------------------------------------------------------
    def _refresh_idle(self) -> None:
        now = time.time()
        for addr, ws in self.scheduler.workers.items():
            if ws.processing:
                if self.idle_since.pop(addr, None) is not None:
                    self._event("node-busy", node=str(ws.name))
            elif addr not in self.idle_since:
                self.idle_since[addr] = now
                self._event("node-idle", node=str(ws.name))

    def _node(self, ws: Any) -> Node:
        runs = [ts.key for ts in ws.processing
                if ts.key in self.requests and ts.key not in self.released]
        used: dict[str, float] = {}
        for key in runs:
            for name, amount in self.requests[key].items():
                used[name] = used.get(name, 0.0) + amount
        status = getattr(ws.status, "name", str(ws.status))
        if ws.address in self.retiring or status in ("closing", "closing_gracefully",
                                                      "closed") or self._cancelled(ws):
            state = LEAVING
        elif ws.address in self.failed:
            state = SETUP_FAILED
        elif ws.address in self.preparing:
            state = PREPARING
        elif status == "running":
            state = USABLE
        else:
            state = UNUSABLE
        capacity = {"cpus": float(ws.nthreads), **{k: float(v)
                                                   for k, v in ws.resources.items()}}
        return Node(name=str(ws.name), capacity=capacity, used=used, runs=len(runs),
                    tasks=len(ws.processing),
                    idle_since=None if ws.processing else self.idle_since.get(ws.address),
                    state=state)

    def _cancelled(self, ws: Any) -> bool:
        """Released before it joined (see retire_handler); for ``CANCEL_HOLD`` seconds at
        most, should its cluster never stop it."""
        when = self.cancelled.get(str(ws.name)) if self.cancelled else None
        return when is not None and time.time() - when < CANCEL_HOLD

    def view(self) -> dict[str, Any]:
        sched = self.scheduler
        nodes = [self._node(ws) for ws in sched.workers.values()]
        # runs held back by the quota neither start nor ask for nodes
        pending, held = admit(fair_order(self._waiting(), self._running_by_group()),
                              self._usage(), self.quota)
        other = len(sched.queued) + sum(1 for ts in sched.unrunnable
                                        if ts.key not in self.requests)
        other += sum(n.tasks - n.runs for n in nodes)
        threads = max((ws.nthreads for ws in sched.workers.values()), default=1)
        return {"now": time.time(), "nodes": [asdict(n) for n in nodes],
                "pending": [{"key": p.key, "request": dict(p.request)} for p in pending],
                "other_tasks": other, "threads_per_node": threads,
                "running_runs": sum(n.runs for n in nodes),
                "gpus_in_use": self._usage().gpus, "quota_held": len(held),
                "setup_failed": {self.names.get(a, a): self.setup.get(
                    self.names.get(a, a), {}).get("summary", "") for a in self.failed}}

    def view_handler(self) -> dict[str, Any]:
        return self.view()

    def queue_handler(self) -> list[dict[str, Any]]:
        """The runs waiting for a node, in the order they will be placed (fair share)."""
        now = time.time()
        order = fair_order(self._waiting(), self._running_by_group())
        _, held = admit(order, self._usage(), self.quota)
        return [{"run": p.run, "group": p.group, "priority": p.priority,
                 "quota": held.get(p.key), "request": dict(p.request),
                 "waiting_s": round(now - p.submitted, 1)} for p in order]

    def _running_by_group(self) -> dict[str, int]:
        running: dict[str, int] = {}
        for ws in self.scheduler.workers.values():
            for ts in ws.processing:
                item = self.items.get(ts.key)
                if item is not None and ts.key not in self.released:
                    running[item.group] = running.get(item.group, 0) + 1
        return running

    def _usage(self) -> Usage:
        """Runs executing on this cluster (a distributed run once) and the GPUs they hold."""
        runs: set[str] = set()
        gpus = 0.0
        for ws in self.scheduler.workers.values():
            for ts in ws.processing:
                item = self.items.get(ts.key)
                if item is not None:
                    runs.add(item.run)
                    gpus += float(self.requests[ts.key].get("gpus", 0.0))
        return Usage(runs=len(runs), nodes=len(self.scheduler.workers), gpus=gpus)

    def known_handler(self, keys: list[str]) -> list[str]:
        """Which of ``keys`` the scheduler holds for good (fire-and-forget): a submitting
        process may exit once its runs are here."""
        return [k for k in keys if k in self.finished or self._kept(k)]

    def _kept(self, key: str) -> bool:
        ts = self.scheduler.tasks.get(key)
        return ts is not None and any(cs.client_key == "fire-and-forget"
                                      for cs in ts.who_wants or ())

    def settings_handler(self, idle_seconds: float | None = None) -> str:
        self.idle_seconds = idle_seconds
        return "OK"

    def node_setup_handler(self, name: str, ok: bool, log: str = "", seconds: float = 0.0,
                           summary: str = "") -> str:
        """A node's report on its node_setup: ready for runs, or marked setup-failed (kept,
        with its log, until released when idle)."""
        addr = next((a for a, n in self.names.items() if n == str(name)), None)
        self.setup[str(name)] = {"ok": bool(ok), "log": log, "seconds": seconds,
                                 "summary": summary, "time": time.time()}
        while len(self.setup) > SETUP_REPORTS_KEPT:
            self.setup.pop(next(iter(self.setup)))
        if addr is None:
            return "unknown"
        self.preparing.discard(addr)
        if ok:
            self.failed.discard(addr)
            self._event("node-ready", node=str(name), seconds=seconds)
            self._schedule_dispatch()
        else:
            self.failed.add(addr)
            self._event("node-setup-failed", node=str(name), summary=summary)
        return "OK"

    def node_setup_mode_handler(self, enabled: bool = False) -> str:
        """With a node_setup, nodes joining from now on wait for their report; without one,
        nodes still preparing or failed are ready."""
        self.node_setup = bool(enabled)
        if not enabled:
            self.preparing.clear()
            self.failed.clear()
            self._schedule_dispatch()
        return "OK"

    def setup_reports_handler(self) -> dict[str, dict[str, Any]]:
        return dict(self.setup)

    def quota_handler(self, quota: dict[str, Any] | None = None) -> str:
        """The manager's :class:`~._quota.Allowance` for this target (limits and why)."""
        new = Allowance.from_dict(quota)
        if new != self.quota:
            self.quota = new
            self._schedule_dispatch()        # a raised quota lets held runs start now
        return "OK"

    async def retire_handler(self, names: list[str]) -> list[str]:
        """Retire the named nodes that may still be released *now*; returns their names.

        A named node that has not joined yet is released too, and gets no run should it join
        before it is stopped: the caller decided on a view that may be a moment old, and a
        node that joined meanwhile may already hold a run (closing it would run that run
        twice). One that joined is judged like any other: a new node is not idle long enough.
        """
        wanted, now = {str(n) for n in names}, time.time()
        joined = {str(ws.name): ws for ws in self.scheduler.workers.values()}
        coming = sorted(wanted - set(joined))
        self.cancelled = {n: t for n, t in self.cancelled.items() if now - t < CANCEL_HOLD}
        self.cancelled.update(dict.fromkeys(coming, now))   # before any await
        chosen = self.valid_workers_downscaling(
            self.scheduler, [ws for name, ws in joined.items() if name in wanted])
        addrs = [ws.address for ws in chosen]
        if not addrs:
            return coming
        self.retiring.update(addrs)   # placement skips them from this instant on
        for ws in chosen:
            self._event("node-release", node=str(ws.name),
                        idle=time.time() - self.idle_since.get(ws.address, time.time()))
        try:
            # closing_gracefully now; the cluster then closes the node through its nanny
            # (closing it from here too races with that and costs a 4 s kill timeout)
            await self.scheduler.retire_workers(workers=addrs, close_workers=False,
                                                remove=False,
                                                stimulus_id=f"cumulus-retire-{time.time()}")
        finally:
            self.retiring.difference_update(a for a in addrs if a in self.scheduler.workers
                                            and self.scheduler.workers[a].status.name
                                            == "running")
        return coming + [str(ws.name) for ws in chosen]

    def _event(self, action: str, **fields: Any) -> None:
        try:
            self.scheduler.log_event(EVENT_TOPIC, {"action": action, "time": time.time(),
                                                   **fields})
        except Exception:  # events are diagnostics only
            pass

    # placement ---------------------------------------------------------------------------
    def _schedule_dispatch(self) -> None:
        if not self.dispatch_scheduled and self.pending:
            self.dispatch_scheduled = True
            self.loop.call_soon(self._dispatch)

    def _waiting(self) -> list[Pending]:
        """Runs waiting for a node, oldest submission first (a requeued run keeps its turn)."""
        tasks = self.scheduler.tasks
        items = self.items
        waiting = [items[k] for k in self.pending if k in tasks and k in items
                   and tasks[k].state == "no-worker"]
        waiting.sort(key=attrgetter("submitted"))
        return waiting

    def _held(self, queue: dict[str, None]) -> Iterator[tuple[float, Pending]]:
        """A queue's runs that wait for a node now, oldest first, read as taken."""
        tasks, items = self.scheduler.tasks, self.items
        for key in queue:
            ts = tasks.get(key)
            if ts is not None and ts.state == "no-worker":
                yield items[key].submitted, items[key]

    def _dispatch(self) -> None:
        self.dispatch_scheduled = False
        sched = self.scheduler
        if not self.kinds:
            return
        by_name = {str(ws.name): ws for ws in sched.workers.values()}
        nodes = [self._node(ws) for ws in sched.workers.values() if ws in sched.running]
        recs: dict[str, str] = {}
        # lazily: placing the one run a freed slot takes reads that run, not the whole queue
        order = fair_merge({k: self._held(q) for k, q in self.queues.items()},
                           self._running_by_group())
        for key, name in place(admitted(order, self._usage(), self.quota), nodes,
                               kinds=set(self.kinds)):
            sched.tasks[key].worker_restrictions = {by_name[name].address}
            recs[key] = "processing"
        if not recs:
            return
        sched.transitions(recs, stimulus_id=f"cumulus-place-{time.time()}")
        for key in recs:
            ts = sched.tasks.get(key)
            if ts is not None and ts.state == "no-worker":   # the node went away meanwhile
                ts.worker_restrictions = {HOLD}
            elif ts is not None and ts.processing_on is not None:
                self._event("run-placed", key=key, node=str(ts.processing_on.name))

    # the store ---------------------------------------------------------------------------
    def _store(self, url: str) -> Any:
        store = self.stores.get(url)
        if store is None:
            from cumulus.store import Store

            store = self.stores[url] = Store(url)
        return store

    def _lost(self, key: str, kwargs: dict[str, Any]) -> None:
        store, run = self.origin.get(key) or (None, None)
        if not store or not run:
            return
        reason = describe_error(kwargs.get("exception"), kwargs.get("exception_text"))
        self._event("run-failed", key=key, reason=reason)
        self.pool.submit(self._record_failed, store, run, reason)

    def _record_failed(self, url: str, run_id: str, reason: str) -> None:
        try:
            store = self._store(url)
            if store.try_transition(run_id, "Failed", reason=reason,
                                    error={"message": reason}):
                store.append_log(run_id, f"[cumulus] run failed: {reason}\n")
        except Exception:
            logger.exception("could not record run %s as Failed", run_id)

    async def _reconcile_forever(self) -> None:
        while True:
            await asyncio.sleep(RECONCILE_INTERVAL)
            try:
                self._heal()
            except Exception:       # never let the reconciler die with it
                logger.exception("checking the held runs against the scheduler failed")
            held = {k: self.origin[k] for k in self.pending if k in self.origin}
            if not held:
                continue
            try:
                ended = await self.loop.run_in_executor(self.pool, self._ended, held)
            except Exception:
                logger.exception("reconciling held runs failed")
                continue
            self._drop(ended)
            self._schedule_dispatch()

    def _heal(self) -> None:
        """Make the held-run bookkeeping agree with the scheduler again, should a hook ever
        have missed a transition: a run task waiting for a node that the plugin does not hold
        would wait for good. Logged, so that a cause can be found."""
        tasks = self.scheduler.tasks
        unheld = [ts.key for ts in self.scheduler.unrunnable
                  if ts.key in self.items and ts.key not in self.pending]
        gone = [k for k in self.pending
                if k not in tasks or tasks[k].state not in ("no-worker", "waiting", "released")]
        for key in gone:
            self._unhold(key)
        for key in unheld:
            tasks[key].worker_restrictions = {HOLD}
            self._hold(key)
        if unheld or gone:
            logger.warning("cumulus plugin: held runs out of step with the scheduler, repaired "
                           "(%d held again, %d dropped): %s", len(unheld), len(gone),
                           sorted(unheld + gone)[:10])
            self._event("held-repaired", held=unheld[:100], dropped=gone[:100])

    def _ended(self, held: dict[str, tuple[str | None, str | None]]) -> list[str]:
        """Held run keys whose run already ended in the store (canceled while queued)."""
        by_store: dict[str, dict[str, str]] = {}
        for key, (store, run) in held.items():
            if store and run:
                by_store.setdefault(store, {})[run] = key
        ended: list[str] = []
        for url, runs in by_store.items():
            statuses = self._store(url).get_statuses(list(runs))
            ended += [runs[r] for r, s in statuses.items() if s in TERMINAL]
        return ended

    def _drop(self, keys: list[str]) -> None:
        sched = self.scheduler
        keys = [k for k in keys if k in sched.tasks and sched.tasks[k].state == "no-worker"]
        if keys:
            sched.stimulus_cancel(keys, client="fire-and-forget", force=True,
                                  reason="run ended before it was placed", msg="")


def describe_error(exception: Any, text: Any = None) -> str:
    """A one-line reason for a run task that erred on the scheduler."""
    exc = exception
    try:
        from distributed.protocol import pickle

        if isinstance(exc, bytes):
            exc = pickle.loads(exc)
        elif hasattr(exc, "data"):                # Serialized / ToPickle wrappers
            exc = exc.data if not isinstance(exc.data, bytes) else pickle.loads(exc.data)
    except Exception:
        exc = None
    from distributed.scheduler import KilledWorker

    if isinstance(exc, KilledWorker):
        lost = int(exc.allowed_failures) + 1
        return (f"the node running it was lost {lost} time(s); no attempts left "
                f"(max_attempts {lost})")
    if exc is not None:
        return f"{type(exc).__name__}: {exc}"
    return str(text or "the run's task failed on the cluster")
