"""``cumulus schedule serve``: Prefect's Runner for the workspace's deployments, datastore
triggers, and the deployments kept in sync with the records.

The loop needs a real Prefect server (its scheduler creates the flow runs of cron and
interval deployments; ephemeral mode has none), so it uses the configured one or the
installation's own. It hosts Prefect's own ``Runner`` (see :class:`PrefectRunner`): every
deployment of the workspace is added to it, and it executes each due flow run in a
``python -m prefect.engine`` subprocess running the generic entry flow (``_entry.py``), and
stops the ones cancelled in Prefect. Every second the loop also

- polls each enabled datastore schedule whose ``polling_interval`` has passed, and creates one
  flow run of its deployment per batch of added or changed files (removals alone do not
  trigger), recording the changes in the flow run's ``trigger`` parameter;

and every few seconds it mirrors the records (new, changed, disabled, deleted schedules and
published pipelines) as Prefect deployments, and marks a pipeline run whose flow run ended
without it (its process was killed, say) Failed with the reason. It imports no user code.

Example::

    serve(ws, duration=60)          # or: cumulus schedule serve
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from cumulus.errors import ConfigError, PipelineError
from cumulus.flows import _records as rec
from cumulus.store.status import TERMINAL, RunStatus

if TYPE_CHECKING:
    from cumulus.flows._prefect import PrefectAPI
    from cumulus.workspace import Workspace

STALE_AFTER = 60.0   # s without a pipeline heartbeat (the engine beats every 5 s): orphaned
_ACTIVE = sorted({s.value for s in RunStatus} - {s.value for s in TERMINAL})
_ENDED = ("COMPLETED", "FAILED", "CANCELLED", "CRASHED")   # Prefect's final state types


def orphan_reason(flow_run_id: str, state: dict[str, Any] | None, alive: datetime | None,
                  now: datetime, stale_after: float = STALE_AFTER) -> str | None:
    """Why an active pipeline run started by flow run ``flow_run_id`` is orphaned, or None.

    ``state`` is the flow run's state as Prefect's API gives it (None: no such flow run);
    ``alive`` the run's last sign of life (heartbeat, else its last status change).

    Example: ``orphan_reason("f1", {"type": "CRASHED", "name": "Crashed"}, t, t)`` is
    ``"its Prefect flow run f1 ended crashed before the pipeline finished: no message"``.
    """
    if state is None:
        return (f"its Prefect flow run {flow_run_id} is gone (deleted in Prefect) before the "
                "pipeline finished")
    kind = str(state.get("type") or "")
    if kind in _ENDED:
        return (f"its Prefect flow run {flow_run_id} ended "
                f"{str(state.get('name') or kind).lower()} before the pipeline finished: "
                f"{state.get('message') or 'no message'}")
    quiet = (now - alive).total_seconds() if alive is not None else 0.0
    if quiet > stale_after:
        return (f"no sign of life from its pipeline process for {quiet:.0f} s (its Prefect "
                f"flow run {flow_run_id} is {kind.lower() or 'in an unknown state'})")
    return None


def _aware(value: Any) -> datetime:
    stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=timezone.utc)


def diff_listing(old: dict[str, str], new: dict[str, str]) -> dict[str, list[str]]:
    """Files added, changed and removed between two listings of path -> marker (pure)."""
    return {"added": sorted(set(new) - set(old)),
            "changed": sorted(k for k in set(old) & set(new) if old[k] != new[k]),
            "removed": sorted(set(old) - set(new))}


class ScheduleServer:
    """One serve loop for a workspace; see the module docstring."""

    def __init__(self, ws: Workspace, api: PrefectAPI, runner: PrefectRunner,
                 out: Callable[[str], None] = print) -> None:
        self.ws = ws
        self.api = api
        self.runner = runner
        self.out = out
        self.tag = rec.ws_tag(ws)
        self.served: dict[str, str] = {}    # deployment id -> fingerprint the runner has
        self.stale_after = STALE_AFTER

    def say(self, text: str) -> None:
        self.out(f"[{datetime.now().strftime('%H:%M:%S')}] {text}")

    # deployments ---------------------------------------------------------------------------
    def sync(self) -> dict[str, dict[str, Any]]:
        """Mirror every record as a deployment; delete deployments whose record is gone.

        Deployments are listed before records: a schedule created in between registers its
        own deployment, which must not look orphaned. A record whose deployment is missing
        (deleted by hand in Prefect's UI, say) is registered again. Every deployment is
        added to the Runner, once per change."""
        existing = self.api.deployments(self.tag)
        live = {dep["id"] for dep in existing}
        records = {r["name"]: r for r in rec.list_records(self.ws)}
        by_deployment = {}
        for name, record in records.items():
            state = record.get("state") or {}
            fp = rec.fingerprint(record)
            dep_id = state.get("deployment_id")
            if not dep_id or dep_id not in live or self.served.get(dep_id) != fp:
                dep_id = rec.register(self.ws, self.api, record, apply=self.runner.add)
                self.served[dep_id] = fp
                self.say(f"{record['kind']} {name}: deployment {dep_id}")
            by_deployment[dep_id] = record
        for dep in existing:
            if dep["id"] not in by_deployment:
                self.api.delete_deployment(dep["id"])
                self.say(f"deleted deployment {dep['name']} (its record is gone)")
        return by_deployment

    # datastore schedules -------------------------------------------------------------------
    def poll_datastores(self, deployments: dict[str, dict[str, Any]]) -> int:
        """Poll each enabled datastore schedule that is due; one failing (its datastore gone,
        say) is reported and never holds up the others."""
        fired = 0
        for dep_id, record in deployments.items():
            if record["kind"] != "datastore" or not record.get("enabled", True):
                continue
            try:
                fired += self._poll_one(dep_id, record)
            except Exception as exc:
                self.say(f"schedule {record['name']}: polling failed: "
                         f"{type(exc).__name__}: {exc}")
        return fired

    def _poll_one(self, dep_id: str, record: dict[str, Any]) -> int:
        """Poll one datastore schedule if due; 1 when it created a flow run."""
        from cumulus.flows._schedule import _listing

        now = time.time()
        latest = rec.get_record(self.ws, record["name"]) or record
        state = dict(latest.get("state") or {})
        d = latest["definition"]
        if now - float(state.get("last_poll") or 0) < float(d["polling_interval"]):
            return 0
        current = _listing(self.ws, d)
        changes = diff_listing(state.get("baseline") or {}, current)
        state.update(last_poll=now, baseline=current, polls=int(state.get("polls") or 0) + 1)
        fired = 0
        if changes["added"] or changes["changed"]:
            flow_run = self.api.create_flow_run(
                dep_id, {"pipeline_parameters": d.get("parameters") or {},
                         "trigger": {"datastore": d["datastore"],
                                     "path_on_datastore": d["path_on_datastore"],
                                     **changes}})
            state["triggered"] = int(state.get("triggered") or 0) + 1
            self.say(f"schedule {record['name']}: {len(changes['added'])} added, "
                     f"{len(changes['changed'])} changed -> flow run {flow_run['id']}")
            fired = 1
        rec.put_record(self.ws, record["name"], state=state)
        return fired

    # pipeline runs whose flow run ended without them -------------------------------------
    def reconcile(self, deployments: dict[str, dict[str, Any]]) -> int:
        """Mark Failed each active pipeline run started by a flow run of this workspace's
        deployments whose flow run ended, is gone, or stopped showing signs of life (see
        :func:`orphan_reason`); its step runs are canceled."""
        marked = 0
        now = datetime.now(timezone.utc)
        runs = [r for status in _ACTIVE
                for r in self.ws.store.list_runs(kind="pipeline", status=status)]
        for run in runs:
            props = run.get("properties") or {}
            flow_run_id = props.get("prefect_flow_run_id")
            if not flow_run_id or not (props.get("schedule") or
                                       props.get("published_pipeline")):
                continue
            flow_run = self.api.flow_run(flow_run_id)
            alive = run.get("heartbeat_at") or run.get("status_changed_at")
            message = orphan_reason(
                flow_run_id, None if flow_run is None else (flow_run.get("state") or {}),
                _aware(alive) if alive else None, now, self.stale_after)
            if message and self.ws.store.try_transition(
                    run["id"], RunStatus.FAILED, reason=message, error={"message": message}):
                from cumulus.tasks.cancel import cancel_run

                cancel_run(self.ws.store, run["id"], message)
                self.say(f"pipeline run {run['id']} failed: {message}")
                marked += 1
        return marked

    # the loop ------------------------------------------------------------------------------
    def beat(self) -> None:
        """Tell the workspace's Prefect server guard that schedules are being served."""
        import json
        import os

        from cumulus._procs import ProcessRef
        from cumulus.flows._server import SERVE_HEARTBEAT

        path = self.ws.state_dir / "prefect" / SERVE_HEARTBEAT
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({**ProcessRef.of(os.getpid()).to_dict(),
                                        "heartbeat": time.time()}))
        except OSError:
            pass

    def loop(self, stop: threading.Event, poll_interval: float = 1.0,
             sync_interval: float = 5.0) -> None:
        deployments = self.sync()
        synced = beat = time.monotonic()
        self.beat()
        while not stop.is_set() and self.runner.alive():
            if time.monotonic() - beat > 10:
                self.beat()
                beat = time.monotonic()
            chores: list[Callable[[dict[str, dict[str, Any]]], Any]] = [self.poll_datastores]
            if time.monotonic() - synced > sync_interval:
                chores.append(self.reconcile)
                try:
                    deployments = self.sync()
                    synced = time.monotonic()
                except Exception as exc:  # keep serving the deployments known so far
                    self.say(f"error syncing deployments: {type(exc).__name__}: {exc}")
            # separately: a datastore schedule failing every poll never holds up the others
            for chore in chores:
                try:
                    chore(deployments)
                except Exception as exc:
                    self.say(f"error in {chore.__name__}: {type(exc).__name__}: {exc}")
            stop.wait(poll_interval)
        if not self.runner.alive():
            raise PipelineError(f"Prefect's Runner stopped: {self.runner.error}")


def serve(ws: Workspace, *, duration: float | None = None, stop: threading.Event | None = None,
          poll_interval: float = 1.0, sync_interval: float = 5.0, limit: int | None = None,
          out: Callable[[str], None] = print) -> None:
    """Serve ``ws``'s schedules and published pipelines until ``stop`` or ``duration``;
    ``limit``: at most this many flow runs at once (default: Prefect's runner process limit,
    ``PREFECT_RUNNER_PROCESS_LIMIT``, 5); the others wait their turn, Scheduled."""
    from cumulus.flows._prefect import PrefectAPI, resolve_api
    from cumulus.flows._server import wait_healthy

    url = resolve_api(ws, start=True)
    if url is None:
        raise ConfigError("Schedules need a Prefect server, but cumulus.yaml sets "
                          "prefect_api_url: ephemeral (which has no scheduler). Remove it to "
                          "use the workspace's own server, or set a server URL.")
    wait_healthy(url)
    stop = stop or threading.Event()
    if duration is not None:
        timer = threading.Timer(duration, stop.set)
        timer.daemon = True
        timer.start()
    if threading.current_thread() is threading.main_thread():
        import signal

        # SIGTERM (systemd, kill) stops like Ctrl-C: the runner cancels what is in flight
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be at least 1 flow run at once, got {limit}.")
    runner = PrefectRunner(url, f"cumulus {ws.name} {rec.ws_tag(ws)[-6:]}", poll_interval,
                           limit)
    runner.start()
    try:
        server = ScheduleServer(ws, PrefectAPI(url), runner, out)
        server.say(f"serving schedules of workspace {ws.name!r} with Prefect at {url} "
                   f"(Prefect Runner {runner.name!r}"
                   f"{'' if limit is None else f', at most {limit} flow run(s) at once'})")
        server.loop(stop, poll_interval, sync_interval)
    finally:
        runner.stop()


class CapacityNotes(logging.Filter):
    """Prefect's Runner logs "N scheduled runs skipped (at capacity)" at every poll while
    ``--limit`` runs are in flight (twice a second); this lets it through only when N changes
    or once a minute, so ``cumulus schedule serve`` stays readable.

    >>> notes, rec = CapacityNotes(), lambda n: logging.makeLogRecord(
    ...     {"msg": "%d scheduled runs skipped (at capacity)", "args": (n,)})
    >>> [notes.filter(rec(n), now=t) for n, t in [(2, 0), (2, 1), (3, 2), (3, 70)]]
    [True, False, True, True]
    """

    EVERY = 60.0

    def __init__(self) -> None:
        super().__init__()
        self.last: tuple[Any, float] | None = None

    def filter(self, record: logging.LogRecord, now: float | None = None) -> bool:
        if "skipped (at capacity)" not in str(record.msg):
            return True
        now = time.monotonic() if now is None else now
        if self.last and self.last[0] == record.args and now - self.last[1] < self.EVERY:
            return False
        self.last = (record.args, now)
        return True


def _quiet_capacity_notes() -> None:
    log = logging.getLogger("prefect.runner")
    if not any(isinstance(f, CapacityNotes) for f in log.filters):
        log.addFilter(CapacityNotes())


class PrefectRunner:
    """Prefect's own ``Runner`` in a thread with its own event loop.

    Deployments are added with :meth:`add` (from any thread); the runner polls them for due
    flow runs every ``poll_interval`` seconds and executes each in a subprocess. Stopping it
    cancels the flow runs still in flight (Prefect's semantics for ``flow.serve``); it never
    pauses the deployments' schedules.
    """

    def __init__(self, url: str, name: str, poll_interval: float = 1.0,
                 limit: int | None = None) -> None:
        import asyncio

        from cumulus.flows._prefect import import_prefect_client

        import_prefect_client()     # one thread at a time: Prefect's modules import in cycles
        self.url = url
        self.name = name
        self.poll_interval = poll_interval
        self.limit = limit
        self.error: BaseException | None = None
        self.runner: Any = None
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True,
                                        name="cumulus-prefect-runner")

    def _main(self) -> None:
        import asyncio

        from prefect.runner import Runner
        from prefect.settings import PREFECT_API_URL, temporary_settings

        asyncio.set_event_loop(self.loop)
        _quiet_capacity_notes()
        # made in here: the runner's client and its flow runs' processes take this API URL
        with temporary_settings(updates={PREFECT_API_URL: self.url}):
            try:
                extra: dict[str, Any] = {} if self.limit is None else {"limit": self.limit}
                self.runner = Runner(name=self.name, query_seconds=self.poll_interval,
                                     pause_on_shutdown=False, **extra)
                self._ready.set()
                self.loop.run_until_complete(self.runner.start())
            except BaseException as exc:  # reported by the serve loop, which then stops
                self.error = exc
            finally:
                self._ready.set()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(60)
        if self.runner is None:
            raise PipelineError(f"Prefect's Runner did not start: {self.error}")

    def alive(self) -> bool:
        return self._thread.is_alive()

    def add(self, spec: Any) -> str:
        """Register ``spec`` (a ``RunnerDeployment``) and have the runner serve it."""
        return str(self._call(self.runner.aadd_deployment, spec, timeout=60))

    def _call(self, fn: Callable[..., Any], *args: Any, timeout: float) -> Any:
        """Await ``fn(*args)`` on the runner's loop, with the runner's API URL: a coroutine
        handed over from another thread runs in that thread's context."""
        import asyncio

        from prefect.settings import PREFECT_API_URL, temporary_settings

        async def call() -> Any:
            with temporary_settings(updates={PREFECT_API_URL: self.url}):
                return await fn(*args)

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        if self.alive():
            try:
                self._call(self.runner.astop, timeout=timeout)
            except Exception:
                pass
        self._thread.join(timeout)
