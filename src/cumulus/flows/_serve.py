"""``cumulus schedule serve``: keep deployments in sync, watch datastores, start due runs.

The loop needs a real Prefect server (its scheduler creates the flow runs of cron and
interval deployments; ephemeral mode has none), so it uses the configured one or starts the
workspace's own. Every second it

- polls each enabled datastore schedule whose ``polling_interval`` has passed, and creates one
  flow run of its deployment per batch of added or changed files (removals alone do not
  trigger), recording the changes in the flow run's ``trigger`` parameter;
- claims due flow runs of this workspace's deployments (Scheduled -> Pending, so two servers
  never start the same run) and queues a pipeline run for each on the pipeline agent. Of
  several overdue runs of one cron/interval schedule only the newest starts; the others are
  cancelled as missed, so a server that was down does not replay a backlog.

Every few seconds it also mirrors the records (new, changed, disabled, deleted schedules and
published pipelines) as Prefect deployments, through Prefect's own client. It imports no
user code.

Example::

    serve(ws, duration=60)          # or: cumulus schedule serve
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from cumulus.errors import ConfigError
from cumulus.flows import _records as rec

if TYPE_CHECKING:
    from cumulus.flows._prefect import PrefectAPI
    from cumulus.workspace import Workspace


def diff_listing(old: dict[str, str], new: dict[str, str]) -> dict[str, list[str]]:
    """Files added, changed and removed between two listings of path -> marker (pure)."""
    return {"added": sorted(set(new) - set(old)),
            "changed": sorted(k for k in set(old) & set(new) if old[k] != new[k]),
            "removed": sorted(set(old) - set(new))}


class ScheduleServer:
    """One serve loop for a workspace; see the module docstring."""

    def __init__(self, ws: Workspace, api: PrefectAPI,
                 out: Callable[[str], None] = print) -> None:
        self.ws = ws
        self.api = api
        self.out = out
        self.tag = rec.ws_tag(ws)

    def say(self, text: str) -> None:
        self.out(f"[{datetime.now().strftime('%H:%M:%S')}] {text}")

    # deployments ---------------------------------------------------------------------------
    def sync(self) -> dict[str, dict[str, Any]]:
        """Mirror every record as a deployment; delete deployments whose record is gone.

        Deployments are listed before records: a schedule created in between registers its
        own deployment, which must not look orphaned. A record whose deployment is missing
        (deleted by hand in Prefect's UI, say) is registered again."""
        existing = self.api.deployments(self.tag)
        live = {dep["id"] for dep in existing}
        records = {r["name"]: r for r in rec.list_records(self.ws)}
        by_deployment = {}
        for name, record in records.items():
            state = record.get("state") or {}
            if not state.get("deployment_id") or state.get("registered") != \
                    rec.fingerprint(record) or state["deployment_id"] not in live:
                state["deployment_id"] = rec.register(self.ws, self.api, record)
                self.say(f"{record['kind']} {name}: deployment {state['deployment_id']}")
            by_deployment[state["deployment_id"]] = record
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

    # due flow runs -------------------------------------------------------------------------
    def start_due(self, deployments: dict[str, dict[str, Any]]) -> list[str]:
        """Claim due flow runs and queue a pipeline run for each; returns the run ids."""
        now = datetime.now(timezone.utc).isoformat()
        due = self.api.due_flow_runs(list(deployments), now)
        started = []
        newest_auto: dict[str, str] = {}
        for fr in due:  # ascending: the last auto-scheduled one per deployment is the newest
            if fr.get("auto_scheduled"):
                newest_auto[fr["deployment_id"]] = fr["id"]
        for fr in due:
            record = rec.get_record(self.ws, deployments[fr["deployment_id"]]["name"])
            if record is None or not record.get("enabled", True):
                self.api.set_state(fr["id"], "CANCELLED", "Cancelled",
                                   "the schedule is disabled or deleted", force=True)
                continue
            if fr.get("auto_scheduled") and newest_auto.get(fr["deployment_id"]) != fr["id"]:
                self.api.set_state(fr["id"], "CANCELLED", "Cancelled",
                                   "missed: a newer run of this schedule was due", force=True)
                continue
            run_id = self._claim(record, fr)
            if run_id:
                started.append(run_id)
        if started:
            from cumulus.flows._agent import ensure_agent

            ensure_agent(self.ws)
        return started

    def _claim(self, record: dict[str, Any], flow_run: dict[str, Any]) -> str | None:
        if self.api.set_state(flow_run["id"], "PENDING", "Pending") != "ACCEPT":
            return None  # another server took it
        run_id = rec.create_triggered_run(self.ws, record, flow_run,
                                          self.api.ui_url(flow_run["id"]))
        self.say(f"{record['kind']} {record['name']}: queued pipeline run {run_id} "
                 f"(Prefect flow run {flow_run['id']})")
        return run_id

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
        while not stop.is_set():
            if time.monotonic() - beat > 10:
                self.beat()
                beat = time.monotonic()
            if time.monotonic() - synced > sync_interval:
                try:
                    deployments = self.sync()
                    synced = time.monotonic()
                except Exception as exc:  # keep serving the deployments known so far
                    self.say(f"error syncing deployments: {type(exc).__name__}: {exc}")
            # separately: a datastore schedule failing every poll never holds up due runs
            for chore in (self.poll_datastores, self.start_due):
                try:
                    chore(deployments)
                except Exception as exc:
                    self.say(f"error in {chore.__name__}: {type(exc).__name__}: {exc}")
            stop.wait(poll_interval)


def serve(ws: Workspace, *, duration: float | None = None, stop: threading.Event | None = None,
          poll_interval: float = 1.0, sync_interval: float = 5.0,
          out: Callable[[str], None] = print) -> None:
    """Serve ``ws``'s schedules and published pipelines until ``stop`` or ``duration``."""
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
    server = ScheduleServer(ws, PrefectAPI(url), out)
    server.say(f"serving schedules of workspace {ws.name!r} with Prefect at {url}")
    server.loop(stop, poll_interval, sync_interval)
