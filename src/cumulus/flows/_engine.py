"""The pipeline process: a pipeline run executed as a Prefect flow, one task per step.

Each step's Prefect task runs in this process (a thread of Prefect's thread-pool task runner,
so independent steps run concurrently) and submits the step's payload as a child run to the
step's compute target, then waits for it through one shared :class:`Watcher` that polls the
store. Nothing of the step's work runs inside Prefect; Dask workers never talk to Prefect.

The pipeline run goes Starting -> Running -> Completed / Failed / Canceled; a cancel request on
it (``prun.cancel()``) stops the running steps and starts no new ones. A failed step (after its
retries) stops the others unless ``continue_on_step_failure``.

Example (what the pipeline agent's child process does)::

    sys.exit(run_pipeline_process(ws, run_id))
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from cumulus.flows._links import StepLinks
from cumulus.store.status import TERMINAL, RunStatus

if TYPE_CHECKING:
    from cumulus.flows._prepare import PreparedPipeline
    from cumulus.workspace import Workspace

POLL = 0.5           # the store is read this often, and whenever a step's run announces its end
ABORT_CHECK = 0.1
HEARTBEAT = 5.0
STOP_GRACE = 20.0     # a stopped flow waits this long per step for its run to cancel
PREFECT_CHECK = 2.0   # how often the flow run's state in Prefect is read (a cancel from its UI)
_PREFECT_STOPPED = ("CANCELLING", "CANCELLED")
_TERMINAL = {s.value for s in TERMINAL}


class Watcher:
    """One thread reading, from the store, the statuses of every child run a step waits on:
    at once when a step's run announces its end (a Dask event on the pipeline run's children
    topic, from each compute target a step runs on), and every ``interval`` regardless (runs
    whose end is not announced: sweeps, reused or canceled steps; a cancel of the pipeline)."""

    def __init__(self, engine: Engine, interval: float = POLL) -> None:
        self.engine = engine
        self.store = engine.ws.store
        self.interval = interval
        self._watched: dict[str, tuple[threading.Event, list[str]]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._followed: dict[str, Any] = {}       # target name -> its subscribed client
        self._prefect_down = False
        self._prefect: Any = None     # one Prefect client for the watcher's life (see _client)
        self._thread = threading.Thread(target=self._loop, name="cumulus-watcher", daemon=True)

    def follow(self, target: str | None) -> None:
        """Subscribe to the end events of this pipeline's step runs on ``target``."""
        from cumulus.compute import ComputeTarget
        from cumulus.tasks.executor import children_topic

        name = target or self.engine.ws.config.default_compute
        if name in self._followed:
            return
        self._followed[name] = None
        try:
            client = ComputeTarget(self.engine.ws, name).backend.client()
            client.subscribe_topic(children_topic(self.engine.run_id), self._on_event)
            self._followed[name] = client
        except Exception as exc:   # the periodic read still sees the runs end
            self.engine.log(f"(watcher: no events from {name!r}: {type(exc).__name__}: {exc})")

    def _on_event(self, event: Any) -> None:
        """A step's run announced it Completed: resolve its waiter at once (no store read).
        Any other end is read from the store with the pipeline's own status, so that a run
        canceled along with its pipeline is seen as the pipeline's cancel, not a failure."""
        msg = event[1] if isinstance(event, tuple | list) and len(event) == 2 else None
        msg = msg if isinstance(msg, dict) else {}
        status = msg.get("status")
        if msg.get("what") == "end" and status == RunStatus.COMPLETED.value:
            with self._lock:
                entry = self._watched.pop(str(msg.get("run")), None)
            if entry is not None:
                entry[1].append(status)
                entry[0].set()
                return
        self._wake.set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        from cumulus.tasks.executor import children_topic

        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)
        self._drop_client()
        for client in self._followed.values():
            if client is not None:
                try:
                    client.unsubscribe_topic(children_topic(self.engine.run_id))
                except Exception:
                    pass

    def wait(self, run_id: str, abort: threading.Event | None,
             timeout: float | None = None) -> str:
        """The run's final status, ``"aborted"`` if ``abort`` is set first, or ``"timeout"``."""
        with self._lock:
            entry = self._watched.setdefault(run_id, (threading.Event(), []))
        deadline = None if timeout is None else time.monotonic() + timeout
        self._wake.set()          # read now: it may have ended already
        while not entry[0].wait(ABORT_CHECK):
            if abort is not None and abort.is_set():
                return "aborted"
            if deadline is not None and time.monotonic() > deadline:
                return "timeout"
        return entry[1][0]

    def _loop(self) -> None:
        beat = checked = 0.0
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self._poll()
                now = time.monotonic()
                if now - beat > HEARTBEAT:
                    self.store.heartbeat(self.engine.run_id)
                    beat = now
                if now - checked > PREFECT_CHECK and self.engine.flow_run_id:
                    checked = now
                    self._check_prefect_once()
            except Exception as exc:  # a store hiccup must not kill the watcher
                self.engine.log(f"(watcher: {type(exc).__name__}: {exc})")
                time.sleep(1)

    def _check_prefect_once(self) -> None:
        """:meth:`_check_prefect`; an unreachable Prefect API is logged once per outage (the
        pipeline goes on without it)."""
        try:
            self._check_prefect()
        except Exception as exc:
            self._drop_client()       # opened afresh at the next check
            if not self._prefect_down:
                self._prefect_down = True
                self.engine.log(f"(watcher: Prefect's API is unreachable ({type(exc).__name__}: "
                                f"{exc}); the pipeline goes on, but a cancel from Prefect's UI "
                                "is not seen until it is back)")
            return
        if self._prefect_down:
            self._prefect_down = False
            self.engine.log("(watcher: Prefect's API is reachable again)")

    def _check_prefect(self) -> None:
        """A cancel from Prefect's UI or API (the flow run is Cancelling) cancels the
        pipeline run and its running steps."""
        from uuid import UUID

        state = self._client().read_flow_run(UUID(str(self.engine.flow_run_id))).state
        kind = str(getattr(getattr(state, "type", None), "value", "") or "")
        if kind in _PREFECT_STOPPED and not self.engine.aborted.is_set():
            self.store.try_transition(self.engine.run_id, RunStatus.CANCEL_REQUESTED,
                                      reason="canceled from Prefect (flow run "
                                             f"{kind.lower()})")
            self.engine.cancel("canceled from Prefect")

    def _client(self) -> Any:
        """The watcher's Prefect client, opened once: a client per check (every 2 s) built
        its HTTP connection pool and TLS context each time, which cost more than the check."""
        if self._prefect is None:
            from prefect.client.orchestration import get_client

            client = get_client(sync_client=True)
            client.__enter__()
            self._prefect = client
        return self._prefect

    def _drop_client(self) -> None:
        client, self._prefect = self._prefect, None
        if client is not None:
            try:
                client.__exit__(None, None, None)
            except Exception:    # closing a client whose server is gone
                pass

    def _poll(self) -> None:
        with self._lock:
            ids = list(self._watched)
        statuses = self.store.get_statuses([*ids, self.engine.run_id])
        mine = statuses.get(self.engine.run_id)
        if mine in (RunStatus.CANCEL_REQUESTED.value, *_TERMINAL):
            self.engine.cancel(f"pipeline run {mine.lower()}")
        for run_id in ids:
            status = statuses.get(run_id)
            if status in _TERMINAL:
                with self._lock:
                    event, holder = self._watched.pop(run_id)
                holder.append(status)
                event.set()


class Engine:
    """Executes one prepared pipeline for pipeline run ``run_id``."""

    def __init__(self, ws: Workspace, run_id: str, prepared: PreparedPipeline) -> None:
        from cumulus.experiment import Experiment
        from cumulus.flows._stepexec import StepExecutor

        self.ws = ws
        self.run_id = run_id
        self.prepared = prepared
        self.graph = prepared.graph
        rec = ws.store.get_run(run_id)
        self.experiment = Experiment(ws, ws.store.experiment_name(rec["experiment_id"]))
        self.producers = self.graph.producers()
        self.deps = self.graph.dependencies(self.producers)
        self.aborted = threading.Event()
        self.abort_reason = ""
        self.canceled = False
        self.states: dict[str, dict[str, Any]] = {}
        self.times: dict[str, dict[str, float]] = {}
        self.flow_run_id: str | None = None     # the Prefect flow run this pipeline run is
        self._lock = threading.Lock()
        self.watcher = Watcher(self)
        self.executor = StepExecutor(self)
        self.links = StepLinks(self.log)

    # bookkeeping ---------------------------------------------------------------------------
    def log(self, text: str) -> None:
        stamp = datetime.now(timezone.utc).strftime("%H:%M:%S")
        try:
            self.ws.store.append_log(self.run_id, f"[{stamp}] {text}\n")
        except Exception:
            pass
        print(f"[{stamp}] {text}", flush=True)

    def note(self, step: str, state: str, **fields: Any) -> None:
        with self._lock:
            self.states[step] = {**self.states.get(step, {}), "state": state, **fields}

    def mark(self, step: str, label: str) -> None:
        """Record when a step reached ``label`` (start, decided, submitted, done, end)."""
        self.times.setdefault(step, {})[label] = time.perf_counter()

    def timings(self) -> dict[str, dict[str, float]]:
        """Per step, seconds spent: waiting on Prefect after its upstream ended (gap),
        deciding reuse, submitting the child run, the child run itself, collecting."""
        out = {}
        for step, t in self.times.items():
            ups = [self.times.get(d, {}).get("end") for d in self.deps.get(step, [])]
            ready = max((u for u in ups if u is not None), default=None)
            spans = {"gap": (ready, t.get("start")), "decide": (t.get("start"), t.get("decided")),
                     "submit": (t.get("decided"), t.get("submitted")),
                     "run": (t.get("submitted"), t.get("done")),
                     "collect": (t.get("done") or t.get("decided"), t.get("end"))}
            out[step] = {k: round(b - a, 4) for k, (a, b) in spans.items()
                         if a is not None and b is not None}
        return out

    def abort(self, reason: str) -> None:
        with self._lock:
            if self.aborted.is_set():
                return
            self.abort_reason = reason
            self.aborted.set()
        self.log(f"stopping the pipeline: {reason}")

    def cancel(self, reason: str) -> None:
        self.canceled = True
        self.abort(reason)

    # the Prefect flow ----------------------------------------------------------------------
    def run(self, flow_run_id: str | None = None) -> int:
        """Run the flow (a new flow run, or an existing one from a deployment); exit code."""
        threading.Thread(target=self._warm_compute, daemon=True, name="cumulus-warm").start()
        try:
            state = self._run_flow(flow_run_id)
            self.log(f"Prefect flow run finished: {getattr(state, 'name', state)}")
        except BaseException as exc:
            self._fail_if_active(f"the Prefect flow could not run: {type(exc).__name__}: {exc}")
            raise
        finally:
            self._fail_if_active("the Prefect flow ended before the pipeline finished")
        return 0 if self.ws.store.get_status(self.run_id) == "Completed" else 1

    def run_in_flow(self) -> Any:
        """Run the pipeline inside the current Prefect flow run (a deployment's entry flow,
        executed by Prefect's Runner); returns the flow's final state."""
        threading.Thread(target=self._warm_compute, daemon=True, name="cumulus-warm").start()
        try:
            return self._body()
        except BaseException as exc:
            self._fail_if_active(f"the pipeline flow stopped: {type(exc).__name__}: {exc}")
            raise

    def _run_flow(self, flow_run_id: str | None) -> Any:
        from prefect import flow
        from prefect.task_runners import ThreadPoolTaskRunner

        engine = self

        def pipeline_flow(pipeline_parameters: dict[str, Any], trigger: Any = None,
                          pipeline_run_id: str | None = None) -> Any:
            return engine._body()

        runner: Any = ThreadPoolTaskRunner(max_workers=max(4, min(64, len(self.graph.nodes))))
        fl = flow(name=self.prepared.pipeline, flow_run_name=self.run_id, task_runner=runner,
                  persist_result=False, validate_parameters=False,
                  description=f"Cumulus pipeline {self.prepared.pipeline}")(pipeline_flow)
        params = {"pipeline_parameters": self.prepared.parameters,
                  "pipeline_run_id": self.run_id}
        if flow_run_id is None:
            return fl(**params, return_state=True)
        from uuid import UUID

        from prefect.client.orchestration import get_client
        from prefect.flow_engine import run_flow

        with get_client(sync_client=True) as client:
            flow_run = client.read_flow_run(UUID(flow_run_id))
        return run_flow(fl, flow_run=flow_run, parameters=dict(flow_run.parameters),
                        return_type="state")

    def _body(self) -> Any:
        from prefect.states import Cancelled

        if not self._start():
            self.ws.store.try_transition(self.run_id, RunStatus.CANCELED,
                                         reason="canceled before the flow started")
            return Cancelled(message="the pipeline run was canceled before it started")
        self.watcher.start()
        futures: dict[str, Any] = {}
        try:
            futures = self._submit_tasks()
            for future in futures.values():
                future.wait()
        except BaseException as exc:
            # SIGTERM from Prefect's Runner (the flow run was cancelled, or the runner is
            # stopping), or Ctrl-C: cancel the running steps and record the end, then go on
            # with what Prefect does with the signal
            self.cancel(f"stopped by {type(exc).__name__}")
            for future in futures.values():
                future.wait(timeout=STOP_GRACE)
            self.watcher.stop()
            self._finish()
            raise
        self.watcher.stop()
        return self._finish()

    def _warm_compute(self) -> None:
        """Connect to the steps' compute targets while Prefect sets the flow up."""
        from cumulus.compute import ComputeTarget

        for name in sorted({str(n.compute_target) for n in self.graph.nodes.values()}):
            try:
                backend = ComputeTarget(self.ws, name).backend
                connect = getattr(backend, "client", None) or backend.ensure_running
                connect()
            except Exception:  # the step's own submission reports any real problem
                pass

    def _start(self) -> bool:
        from prefect.runtime import flow_run

        store = self.ws.store
        flow_id = str(flow_run.id) if flow_run.id else None
        self.flow_run_id = flow_id
        if not store.try_transition(self.run_id, RunStatus.RUNNING, reason="pipeline flow started",
                                    expected=[RunStatus.STARTING, RunStatus.QUEUED]):
            return False
        url = ui_url(flow_id)
        store.merge_run_dict(self.run_id, "properties", {"prefect_flow_run_id": flow_id,
                                                         "prefect_flow_run_url": url})
        self.log(f"pipeline {self.prepared.pipeline}: {len(self.graph.nodes)} step(s), "
                 f"order {' -> '.join(self.prepared.order)}")
        if url:
            self.log(f"Prefect flow run: {url}")
        return True

    def _submit_tasks(self) -> dict[str, Any]:
        from prefect import task
        from prefect.cache_policies import NO_CACHE

        aborted = self.aborted

        def should_retry(task: Any, task_run: Any, state: Any) -> bool:
            # a plain function: Prefect treats any other callable (a bound method) as "never"
            return not aborted.is_set()

        step_task = task(cache_policy=NO_CACHE, persist_result=False)(self._task_fn)
        futures: dict[str, Any] = {}
        for name in self.prepared.order:
            opts = self.graph.nodes[name].options
            configured = step_task.with_options(
                name=name, task_run_name=name, retries=opts.retries,
                retry_delay_seconds=opts.retry_delays() or 0,
                retry_condition_fn=should_retry)
            upstream = {d: futures[d] for d in self.deps[name]}
            futures[name] = configured.submit(name, upstream)
        return futures

    def _task_fn(self, step: str, upstream: dict[str, Any]) -> Any:
        from prefect.runtime import task_run
        from prefect.states import Cancelled

        from cumulus.flows._stepexec import StepCanceled, StepFailed

        attempt = int(task_run.run_count or 1)
        self.mark(step, "start")
        try:
            outputs = self.executor.run(step, upstream, attempt=attempt)
        except StepCanceled as exc:
            self.note(step, "canceled", error=str(exc))
            self.log(f"{step}: canceled - {exc}")
            return Cancelled(message=str(exc))
        except Exception as exc:
            message = str(exc) if isinstance(exc, StepFailed) else \
                f"step {step}: {type(exc).__name__}: {exc}"
            self.note(step, "failed", error=message)
            retries = self.graph.nodes[step].options.retries
            final = attempt > retries or self.aborted.is_set()
            first, *rest = message.splitlines() or [""]
            self.log(first + ("" if final else f" - retry {attempt} of {retries} follows")
                     + "".join(f"\n    {line}" for line in rest))
            if final and not self.prepared.continue_on_step_failure:
                self.abort(f"step {step} failed")
            raise
        if self.states.get(step, {}).get("state") != "reused":
            self.note(step, "completed")
        self.states[step]["outputs"] = outputs
        self._link_run(step)
        self.mark(step, "end")
        return outputs

    def _link_run(self, step: str) -> None:
        """Show the step's Cumulus run on its Prefect task run (a link artifact, made in the
        background; see ``_links.py``)."""
        run_id = self.states.get(step, {}).get("run_id")
        if not run_id:
            return
        try:
            self.links.add(step, run_id, reused=self.states[step].get("state") == "reused")
        except Exception as exc:      # a missing link never fails a step
            self.log(f"(step {step}: no Prefect link artifact: {type(exc).__name__}: {exc})")

    # the end -------------------------------------------------------------------------------
    def _finish(self) -> Any:
        try:
            return self._record_end()
        finally:
            self.links.wait()       # the outcome is recorded first: nobody waits for links

    def _record_end(self) -> Any:
        from prefect.states import Cancelled, Completed, Failed

        states = {n: self.states.get(n, {}).get("state", "not run") for n in self.prepared.order}
        failed = [n for n, s in states.items() if s == "failed"]
        not_run = [n for n, s in states.items() if s in ("not run", "canceled")]
        summary = ", ".join(f"{sum(1 for s in states.values() if s == k)} {k}"
                            for k in ("completed", "reused", "failed", "canceled", "not run")
                            if k in states.values())
        props: dict[str, Any] = {"step_states": states, "summary": summary,
                                 "outputs": self._pipeline_outputs(),
                                 "step_timings": self.timings()}
        self.ws.store.merge_run_dict(self.run_id, "properties", props)
        if self.canceled:
            self._end(RunStatus.CANCELED, f"canceled ({summary})")
            return Cancelled(message=f"pipeline run canceled ({summary})")
        if failed or not_run:
            errors = [self.states[n].get("error", "") for n in failed]
            msg = f"step(s) {', '.join(failed or not_run)} failed or did not run ({summary})"
            self._end(RunStatus.FAILED, msg, error={"message": msg, "failed_steps": failed,
                                                    "errors": errors})
            return Failed(message=msg)
        self._end(RunStatus.COMPLETED, f"all steps done ({summary})")
        return Completed(message=summary)

    def _pipeline_outputs(self) -> dict[str, Any]:
        out = {}
        for name, handle in self.prepared.outputs.items():
            node = self.producers.get(handle)
            spec = next((k for k, s in self.graph.nodes[node].outputs.items()
                         if s.handle == handle), None) if node else None
            outs = self.states.get(node or "", {}).get("outputs") or {}
            if spec in outs:
                out[name] = outs[spec]
        return out

    def _end(self, status: RunStatus, reason: str, **fields: Any) -> None:
        store = self.ws.store
        self.log(f"pipeline {status.value}: {reason}")
        if not store.try_transition(self.run_id, status, reason=reason, **fields):
            store.try_transition(self.run_id, RunStatus.CANCELED, reason=reason)

    def _fail_if_active(self, message: str) -> None:
        store = self.ws.store
        try:
            if store.get_status(self.run_id) in _TERMINAL:
                return
            store.try_transition(self.run_id, RunStatus.FAILED, reason=message,
                                 error={"message": message})
            from cumulus.tasks.cancel import cancel_run

            cancel_run(store, self.run_id, message)
        except Exception:
            pass


def ui_url(flow_run_id: str | None) -> str | None:
    """The Prefect UI page of a flow run, when a Prefect server (not ephemeral) is used."""
    import os

    api = os.environ.get("PREFECT_API_URL", "").rstrip("/")
    if not flow_run_id or not api:
        return None
    base = api[:-4] if api.endswith("/api") else api
    return f"{base}/runs/flow-run/{flow_run_id}"


def run_pipeline_process(ws: Workspace, run_id: str) -> int:
    """Execute pipeline run ``run_id`` (claimed: status Starting) in this process."""
    from cumulus.flows._prepare import load_prepared

    store = ws.store
    rec = store.get_run(run_id)
    definition = rec.get("definition") or {}
    try:
        if not definition.get("blob"):
            from cumulus.flows._triggered import prepare_triggered

            definition = prepare_triggered(ws, rec)
        prepared = load_prepared(ws, definition["blob"])
    except Exception as exc:
        message = f"the pipeline could not be prepared: {type(exc).__name__}: {exc}"
        store.append_log(run_id, message + "\n")
        store.try_transition(run_id, RunStatus.FAILED, reason=message, error={"message": message})
        _fail_flow_run(ws, definition.get("prefect_flow_run_id"), message)
        return 1
    return Engine(ws, run_id, prepared).run(definition.get("prefect_flow_run_id"))


def _fail_flow_run(ws: Workspace, flow_run_id: str | None, message: str) -> None:
    if not flow_run_id:
        return
    try:
        from cumulus.flows._prefect import PrefectAPI, resolve_api

        url = resolve_api(ws, start=False)
        if url:
            PrefectAPI(url).set_state(flow_run_id, "FAILED", "Failed", message, force=True)
    except Exception:
        pass
