"""The sweep controller: issue trials, follow their metrics, stop bad ones, finish the sweep.

It runs detached from the process that submitted the sweep (``python -m
cumulus.sweeps._entry SWEEP_ID``, see ``_entry.py``) or in-process (``run_controller``, used
by ``cumulus sweep resume --foreground`` and tests). Everything it needs is in the store: the
sweep's definition and state in ``sweep_state``, the trials as child runs, their metrics. So
a controller that dies is replaced by resuming: finished trials are kept, running ones
reattached (or requeued when their task was lost), and the sampler rebuilt from the history.

It does not sleep between polls: executors publish an event on the sweep's Dask topic when a
trial writes metrics or ends, and the controller wakes on it, then reads only what is new
(``get_metric_rows(after_id=...)``, ``get_statuses``). A slow fallback poll covers events that
cannot arrive (a non-Dask backend, a restarted scheduler).

Example::

    SweepController(ws, srun.id).run()           # drive it here until the sweep ends
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import threading
import time
import traceback
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from cumulus.errors import SweepError
from cumulus.tasks.events import RUNS_TOPIC, Wakeup

from . import _state
from ._plan import (
    Decision,
    SweepView,
    Trial,
    best_trial,
    decide,
    policy_text,
    primary_metric_warning,
    relevant_params,
)
from ._policies import NoTerminationPolicy
from ._spec import SweepSpec
from ._trials import TrialSubmitter, event_topic, load_trials, points_from_rows

HEARTBEAT = 2.0
FALLBACK_POLL = 2.0          # with Dask events: only a safety net
POLL_WITHOUT_EVENTS = 0.5
MAX_ERRORS = 5               # consecutive failed iterations before the sweep is failed
LOG_FLUSH = 1.0              # seconds between writes of the sweep run's log
LOST_CHECK = 30.0            # seconds between checks for trials whose task was lost
LOST_AFTER = 30.0            # an active trial this long without a sign of life is checked

log = logging.getLogger("cumulus.sweeps.controller")


# --------------------------------------------------------------------------- the controller


class SweepController:
    """Drives one sweep until it ends (or another controller takes over).

    Example::

        SweepController(ws, "digits_1718_ab12cd34").run()     # -> "Completed"
    """

    def __init__(self, ws: Any, sweep_id: str) -> None:
        self.ws, self.store, self.sweep_id = ws, ws.store, sweep_id
        self.pid = os.getpid()
        record = _state.load(self.store, sweep_id)
        self.spec = SweepSpec.from_definition(record.definition)
        self.state: dict[str, Any] = dict(record.state)
        self.state.setdefault("pruned", {})
        self.state.setdefault("warnings", [])
        self.state.setdefault("metric_floor", {})
        run = self.store.get_run(sweep_id)
        self.experiment_id = int(run["experiment_id"])
        self.started = _aware(run.get("start_time") or run["created_at"])
        self.sweep_status = str(run["status"])
        self.trials: dict[str, Trial] = {}
        self.seen: dict[str, dict[int, tuple[int, float]]] = {}
        self.names: dict[str, set[str]] = {}
        self.cursor = 0
        self.ended_leader: Trial | None = None   # the best ended trial noted so far
        self.lookback = 0 if self.store.dialect == "sqlite" else 5000
        self.lines: list[str] = []
        self.wakeup = Wakeup()
        self.stop = threading.Event()
        self.submitter: TrialSubmitter | None = None
        self._last_beat = 0.0
        self._last_flush = 0.0
        self._last_lost_check = time.monotonic()
        self._saved_state = ""
        self._last_message = ""

    # lifecycle ---------------------------------------------------------------------------
    def run(self) -> str:
        """Drive the sweep to its end; returns the sweep run's final (or current) status."""
        if self.sweep_status in ("Completed", "Failed", "Canceled"):
            return self.sweep_status
        if not _state.claim(self.store, self.sweep_id, self.pid):
            raise SweepError(f"sweep {self.sweep_id} already has a live controller; follow it "
                             f"with `cumulus sweep show {self.sweep_id}`.")
        try:
            self.submitter = TrialSubmitter(self.ws, self.experiment_id, self.sweep_id,
                                            self.spec.template)
            self._recover()
            self._subscribe()
            return self._loop()
        except Exception as exc:
            self._crash(exc)
            raise
        finally:
            self.wakeup.close()
            try:
                self._flush_log(force=True)
                _state.release(self.store, self.sweep_id, self.pid, self.state)
            except Exception:  # do not hide what ended the loop
                log.exception("could not release the sweep")

    def _loop(self) -> str:
        errors = 0
        woken_by: set[str] = set()
        while not self.stop.is_set():
            if self._worth_a_look(woken_by):
                try:
                    decision = self._step()
                    errors = 0
                except Exception as exc:  # a transient store or cluster error: retry
                    errors += 1
                    if errors >= MAX_ERRORS:
                        raise
                    self._note(f"controller error (attempt {errors} of {MAX_ERRORS}): "
                               f"{type(exc).__name__}: {exc}")
                    decision = Decision()
                if decision.finish:
                    return self._finish(decision.finish, decision.message)
            self._flush_log()
            if not self._beat():
                self._note("another controller took this sweep over; stopping")
                break
            woken_by = self.wakeup.wait(self._timeout())
        self._flush_log(force=True)
        return self.store.get_status(self.sweep_id)

    def _step(self) -> Decision:
        self._refresh()
        if time.monotonic() - self._last_lost_check >= LOST_CHECK:
            self._last_lost_check = time.monotonic()
            try:
                self._check_lost()
            except Exception as exc:  # e.g. the cluster is restarting: try again later
                self._note(f"could not check for lost trials: {type(exc).__name__}: {exc}")
        decision = decide(self._view())
        for tid, trial in self.trials.items():  # the policy has seen every interval now
            if trial.judged != len(trial.points):
                self.trials[tid] = replace(trial, judged=len(trial.points))
        self._apply(decision)
        return decision

    def _worth_a_look(self, woken_by: set[str]) -> bool:
        """False when nothing that woke us can change a decision: a trial that started or
        wrote log text, or one that wrote metrics when nothing here uses them (with no
        early-termination policy, trials' metrics are read once, when they end). An end, a
        poke or the fallback poll's timeout (no kinds) always is."""
        if not woken_by or woken_by - {"metrics", "status", "log"}:
            return True
        return "metrics" in woken_by and not self._metrics_unused()

    def _metrics_unused(self) -> bool:
        """Whether the metrics a trial writes while it runs change nothing here."""
        return isinstance(self.spec.policy, NoTerminationPolicy) and self._primary_seen()

    def _timeout(self) -> float:
        timeout = FALLBACK_POLL if self.wakeup.live else POLL_WITHOUT_EVENTS
        limit = self.spec.limits.max_duration_seconds
        if limit is not None:
            timeout = min(timeout, max(0.05, limit - self._elapsed()))
        return min(timeout, HEARTBEAT)

    def _elapsed(self) -> float:
        return (datetime.now(timezone.utc) - self.started).total_seconds()

    def _subscribe(self) -> None:
        assert self.submitter is not None
        client_of = getattr(self.submitter.target.backend, "client", None)
        if client_of is None:
            return
        try:
            self.wakeup.subscribe(client_of(), event_topic(self.sweep_id))
            self._note(f"following the trials through Dask events on topic "
                       f"{event_topic(self.sweep_id)!r}")
        except Exception as exc:  # no events: fall back to polling
            self._note(f"no Dask event subscription ({type(exc).__name__}: {exc}); polling")

    # recovery ----------------------------------------------------------------------------
    def _load(self) -> list[Trial]:
        """The sweep's trials as the store has them (and the metric cursor past their rows)."""
        trials, self.cursor = load_trials(self.store, self.sweep_id, self.spec.metric,
                                          self.state, self.spec.summary)
        self.trials = {t.trial_id: t for t in trials}
        return trials

    def _recover(self) -> None:
        trials = self._load()
        first_start = not self.state.get("controller_started")
        self.state["controller_started"] = True
        if first_start:
            self._note(f"controller {self.pid} started: {self._describe()}")
            for trial in trials:  # issued by the submitting process (see Sweep._submit)
                self._note(f"trial {trial.index} ({trial.trial_id}) submitted: "
                           f"{self._shown(dict(trial.params))}")
        if not trials:
            return
        active = [t for t in trials if t.active]
        if not first_start:
            self._note(f"controller {self.pid} resumed: {len(trials) - len(active)} finished "
                       f"trial(s) kept, {len(active)} active")
        # the active trials' points with their row ids; every trial's metric names while the
        # primary metric has not been seen (trials may have ended before this controller)
        self._read_full([t.trial_id for t in (trials if not self._primary_seen() else active)])
        ended = [self.trials[t.trial_id] for t in trials if not t.active]
        if first_start:
            for trial in ended:
                self._note_end(trial)
        else:
            self.ended_leader = best_trial(ended, self.spec.goal)
        self._reattach(active, quiet=first_start)
        self._save_state()

    def _reattach(self, active: list[Trial], *, quiet: bool = False) -> None:
        assert self.submitter is not None
        held = self.submitter.known_keys(t.trial_id for t in active)
        if held is None:
            queued = [t for t in active if t.status == "Queued"]
            for trial in queued:  # same Dask key: a task still queued is not duplicated
                self.submitter.dispatch(trial.trial_id)
            return
        lost = [t for t in active if t.trial_id not in held]
        statuses = self.store.get_statuses([t.trial_id for t in lost])
        for trial in lost:
            self._requeue(trial, statuses.get(trial.trial_id, trial.status))
        for trial in active:
            if trial.trial_id in held and not quiet:
                self._note(f"trial {trial.index} ({trial.trial_id}) reattached "
                           f"({trial.status})")

    def _check_lost(self) -> None:
        """Requeue active trials whose task the cluster no longer holds (its scheduler was
        restarted, say), and follow the events of the cluster's current client."""
        assert self.submitter is not None
        client_of = getattr(self.submitter.target.backend, "client", None)
        if client_of is not None and self.wakeup.client is not client_of():
            self.wakeup.close()
            self._subscribe()
        quiet = _quiet_trials(self.store.children(self.sweep_id), self.trials, LOST_AFTER)
        if not quiet:
            return
        held = self.submitter.known_keys(t.trial_id for t in quiet)
        if held is None:
            return
        lost = [t for t in quiet if t.trial_id not in held]
        statuses = self.store.get_statuses([t.trial_id for t in lost])
        for trial in lost:
            self._requeue(trial, statuses.get(trial.trial_id, trial.status))

    def _requeue(self, trial: Trial, status: str) -> None:
        assert self.submitter is not None
        tid = trial.trial_id
        if status == "CancelRequested":
            self.store.try_transition(tid, "Canceled", reason="its task was lost while "
                                                              "it was being canceled")
            return
        if status == "Queued":
            self.submitter.dispatch(tid)
            self._note(f"trial {trial.index} ({tid}) requeued: it had not reached the cluster")
            return
        if status in ("Completed", "Failed", "Canceled"):
            return
        attempt = int(self.store.get_run(tid).get("attempt") or 1) + 1
        if not self.store.try_transition(
                tid, "Queued", expected=[status], attempt=attempt,
                reason=f"requeued by the sweep controller: its task was lost while {status}"):
            return
        self._read_new([tid])      # the cursor past its rows so far (see _metrics_unused)
        self.state["metric_floor"][tid] = self.cursor
        self.trials[tid] = replace(trial, status="Queued", points=(), judged=0)
        self.seen[tid] = {}
        self.submitter.dispatch(tid)
        self._note(f"trial {trial.index} ({tid}) requeued (attempt {attempt}): its task was "
                   f"lost while {status}")

    # reading -----------------------------------------------------------------------------
    def _refresh(self) -> None:
        active = [tid for tid, t in self.trials.items() if t.active]
        statuses = self.store.get_statuses([*active, self.sweep_id])
        self.sweep_status = statuses.get(self.sweep_id, self.sweep_status)
        ended = []
        for tid in active:
            status = statuses.get(tid)
            if status is None or status == self.trials[tid].status:
                continue
            self.trials[tid] = replace(self.trials[tid], status=status)
            if not self.trials[tid].active:
                ended.append(tid)
        running = [tid for tid in active if tid not in ended]
        if running and not self._metrics_unused():
            self._read_new(running)
        if ended:
            self._read_final(ended)
        self._check_metric_name()

    def _primary_seen(self) -> bool:
        return bool(self.state.get("primary_metric_seen"))

    def _read_new(self, run_ids: list[str]) -> None:
        name = self.spec.metric if self._primary_seen() else None
        rows = self.store.get_metric_rows(run_ids, name, after_id=max(0, self.cursor -
                                                                       self.lookback))
        if not rows:
            return
        self.cursor = max(self.cursor, max(int(r["id"]) for r in rows))
        self._note_names(rows)
        floors = self.state["metric_floor"]
        primary = [r for r in rows if r["name"] == self.spec.metric]
        for run_id, series in points_from_rows(primary, floors).items():
            seen = self.seen.setdefault(run_id, {})
            seen.update({row_id: (step, value) for row_id, step, value in series})
            self._set_points(run_id, seen)

    def _read_final(self, run_ids: list[str]) -> None:
        self._read_full(run_ids)
        for run_id in run_ids:
            self._note_end(self.trials[run_id])

    def _read_full(self, run_ids: list[str]) -> None:
        """Every primary-metric point of ``run_ids`` (ended trials: their exact final curve)."""
        if not run_ids:
            return
        name = self.spec.metric if self._primary_seen() else None
        rows = self.store.get_metric_rows(run_ids, name)
        self._note_names(rows)
        primary = [r for r in rows if r["name"] == self.spec.metric]
        series = points_from_rows(primary, self.state["metric_floor"])
        for run_id in run_ids:
            self.seen[run_id] = {i: (s, v) for i, s, v in series.get(run_id, [])}
            self._set_points(run_id, self.seen[run_id])

    def _set_points(self, run_id: str, seen: dict[int, tuple[int, float]]) -> None:
        points = tuple(seen[i] for i in sorted(seen))
        self.trials[run_id] = replace(self.trials[run_id], points=points)

    def _note_names(self, rows: list[dict[str, Any]]) -> None:
        if self._primary_seen():
            return
        for row in rows:
            self.names.setdefault(row["run_id"], set()).add(row["name"])

    def _check_metric_name(self) -> None:
        if self._primary_seen():
            return
        if any(t.points for t in self.trials.values()):
            self.state["primary_metric_seen"] = True
            if self.state["warnings"]:
                self._note(f"the primary metric {self.spec.metric!r} is logged now; the "
                           f"earlier warning no longer applies")
            self.state["warnings"] = []
            return
        warning = primary_metric_warning(self.spec.metric, self.names)
        if warning and warning not in self.state["warnings"]:
            self.state["warnings"] = [warning]
            self._note(warning)
            print(warning, file=sys.stderr, flush=True)

    def _note_end(self, trial: Trial) -> None:
        best = trial.best(self.spec.goal)
        shown = "no value" if best is None else f"best {self.spec.metric}={best:.6g}"
        # the leader among the active trials and the ended ones, whose best is kept as they
        # end (an ended trial's values are final): no scan of every trial at every end
        previous = [] if self.ended_leader is None else [self.ended_leader]
        active = [t for t in self.trials.values() if t.active]
        leader = best_trial([trial, *active, *previous], self.spec.goal)
        self.ended_leader = best_trial([trial, *previous], self.spec.goal)
        mark = " (best so far)" if leader is not None and leader.trial_id == trial.trial_id \
            else ""
        self._note(f"trial {trial.index} ({trial.trial_id}) {trial.status}: {shown}, "
                   f"{len(trial.points)} value(s){mark}")

    # deciding and acting -----------------------------------------------------------------
    def _view(self) -> SweepView:
        return SweepView(goal=self.spec.goal, trials=tuple(self.trials.values()),
                         limits=self.spec.limits, sampler=self.spec.sampler,
                         policy=self.spec.policy, warm_start=self.spec.warm_start,
                         elapsed_seconds=self._elapsed(),
                         cancel_requested=self.sweep_status == "CancelRequested",
                         primary_metric_name=self.spec.metric)

    def _apply(self, decision: Decision) -> None:
        from cumulus.tasks.cancel import cancel_run

        for tid, reason in decision.cancel.items():
            cancel_run(self.store, tid, reason)
            pruned = tid in decision.pruned
            self.trials[tid] = replace(self.trials[tid], cancel_reason=reason, pruned=pruned)
            if pruned:
                self.state["pruned"][tid] = reason
            self._note(f"trial {self.trials[tid].index} ({tid}) canceled: {reason}")
        if decision.pruned:
            self._save_state()
        for params in decision.launch:
            self._launch(params)
        if decision.message and decision.message != self._last_message:
            self._last_message = decision.message
            self._note(decision.message)

    def _launch(self, params: dict[str, Any]) -> None:
        assert self.submitter is not None
        index = 1 + max((t.index for t in self.trials.values()), default=-1)
        tid, definition, params = self.submitter.create(index, params)
        self.trials[tid] = Trial(tid, index, params, "Queued", summary=self.spec.summary)
        self.seen[tid] = {}
        error = self.submitter.dispatch(tid, definition)
        if error:
            self.trials[tid] = replace(self.trials[tid], status="Failed")
            self._note(f"trial {index} ({tid}) failed to start: {error}")
            return
        self._note(f"trial {index} ({tid}) submitted: {self._shown(params)}")

    def _shown(self, params: dict[str, Any]) -> str:
        return _format_params(relevant_params(params, self.spec.sampler.space))

    def _finish(self, status: str, message: str) -> str:
        if status == "Completed" and self.spec.finisher:
            status, message = self._run_finisher(status, message)
        best = best_trial(self.trials.values(), self.spec.goal)
        props: dict[str, Any] = {"trials": len(self.trials)}
        value = None if best is None else best.best(self.spec.goal)
        if best is not None and value is not None and math.isfinite(value):
            props.update(best_run_id=best.trial_id, best_primary_metric=value)
        self.store.merge_run_dict(self.sweep_id, "properties", props)
        self.state["progress"] = self._progress()
        self._save_state()  # warnings and progress are readable once a waiter sees the end
        fields: dict[str, Any] = {}
        if status == "Failed":
            fields["error"] = {"message": message}
        if not self.store.try_transition(self.sweep_id, status, reason=message, **fields):
            current = self.store.get_status(self.sweep_id)
            if current == "CancelRequested":
                self.store.try_transition(self.sweep_id, "Canceled", reason=message)
        final = self.store.get_status(self.sweep_id)
        self.state["finished"] = final
        self.state["progress"] = self._progress()
        self._note(f"sweep {self.sweep_id} finished: {final}")
        self._flush_log(force=True)
        self._announce_end()
        return final

    def _announce_end(self) -> None:
        """Wake the sweep's waiters at once (they follow the run-event channel)."""
        client = self.wakeup.client
        if client is None:
            return
        try:
            client.log_event(RUNS_TOPIC, {"run": self.sweep_id, "what": "end"})
        except Exception:     # they read the store every 2 s anyway
            pass

    def _run_finisher(self, status: str, message: str) -> tuple[str, str]:
        """Call the sweep's finisher (``"module:function"``, given the workspace, the sweep id
        and the trials) once its trials are done; AutoML builds its ensemble here. A finisher
        that raises fails the sweep with its message; the trials are kept."""
        import importlib

        module, _, name = str(self.spec.finisher).partition(":")
        self._note(f"finishing: {self.spec.finisher}")
        self._flush_log(force=True)
        try:
            finisher = getattr(importlib.import_module(module), name)
            note = finisher(self.ws, self.sweep_id, list(self.trials.values()))
        except Exception as exc:
            self._note(f"the finisher failed: {type(exc).__name__}: {exc}\n"
                       f"{traceback.format_exc()}")
            return "Failed", f"{self.spec.finisher} failed: {type(exc).__name__}: {exc}"
        if note:
            self._note(str(note))
        return status, message

    def _crash(self, exc: BaseException) -> None:
        """Fail the sweep and stop its trials (best effort: the store may be what failed)."""
        from cumulus.tasks.cancel import cancel_run

        message = f"the sweep controller failed: {type(exc).__name__}: {exc}"
        tb = traceback.format_exc()
        try:
            self._note(f"{message}\n{tb}")
            self._flush_log(force=True)
            for tid, trial in self.trials.items():
                if trial.active:
                    cancel_run(self.store, tid, message)
            self.store.try_transition(self.sweep_id, "Failed", reason=message,
                                      error={"message": message, "traceback": tb})
        except Exception:
            log.exception("could not record the controller's failure")

    # bookkeeping -------------------------------------------------------------------------
    def _progress(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for trial in self.trials.values():
            counts[trial.status] = counts.get(trial.status, 0) + 1
        counts["issued"] = len(self.trials)
        counts["pruned"] = sum(1 for t in self.trials.values() if t.pruned)
        return counts

    def _beat(self) -> bool:
        now = time.monotonic()
        if now - self._last_beat < HEARTBEAT:
            return True
        self._last_beat = now
        self.state["progress"] = self._progress()
        return _state.heartbeat(self.store, self.sweep_id, self.pid, self._state_if_changed())

    def _state_if_changed(self) -> dict[str, Any] | None:
        text = json.dumps(self.state, sort_keys=True, default=str)
        if text == self._saved_state:
            return None
        self._saved_state = text
        return self.state

    def _save_state(self) -> None:
        state = self._state_if_changed()
        if state is not None:
            _state.heartbeat(self.store, self.sweep_id, self.pid, state)

    def _note(self, text: str) -> None:
        stamp = datetime.now(timezone.utc).strftime("%H:%M:%S")
        self.lines.append(f"[sweep {stamp}] {text}\n")
        log.info(text)

    def _flush_log(self, force: bool = False) -> None:
        """Write the buffered log lines (at most once a LOG_FLUSH, or now with ``force``)."""
        now = time.monotonic()
        if self.lines and (force or now - self._last_flush >= LOG_FLUSH):
            text, self.lines = "".join(self.lines), []
            self._last_flush = now
            self.store.append_log(self.sweep_id, text)

    def _describe(self) -> str:
        limits = self.spec.limits
        return (f"{type(self.spec.sampler).__name__} over {list(self.spec.sampler.space.names)}, "
                f"{self.spec.goal} {self.spec.metric!r}, policy {policy_text(self.spec.policy)}, "
                f"max_total_runs={limits.max_total_runs}, "
                f"max_concurrent_runs={limits.max_concurrent_runs}, "
                f"warm start from {len(self.spec.warm_start)} earlier trial(s)")


def _quiet_trials(records: list[dict[str, Any]], trials: dict[str, Trial],
                  after: float) -> list[Trial]:
    """Active trials with no sign of life (heartbeat or status change) for ``after`` s."""
    now = datetime.now(timezone.utc)
    out = []
    for rec in records:
        trial = trials.get(rec["id"])
        if trial is None or not trial.active:
            continue
        seen = [_aware(t) for t in (rec.get("heartbeat_at"), rec.get("status_changed_at")) if t]
        if seen and (now - max(seen)).total_seconds() > after:
            out.append(trial)
    return out


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _format_params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in params.items())
