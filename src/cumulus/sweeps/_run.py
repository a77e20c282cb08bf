"""SweepRun: the parent run of a sweep, with its trials ranked by the primary metric.

Example::

    srun = exp.submit(sweep)                      # or SweepRun.get(ws, run_id)
    srun.wait_for_completion(show_output=True)
    best = srun.get_best_run_by_primary_metric()  # a Run, or None
    for row in srun.get_children_sorted_by_primary_metric(top=5):
        print(row["run_id"], row["hyperparameters"], row["best_primary_metric"])
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any, TextIO

from cumulus.errors import SweepError
from cumulus.run import Run

from . import _state
from ._plan import Trial

TERMINAL = ("Completed", "Failed", "Canceled")
LIVENESS_CHECK = 5.0
MAX_REVIVALS = 3          # controller restarts by one waiting client


@dataclass(frozen=True)
class TrialSummary:
    """One trial for display and ranking.

    ``best`` is the best primary-metric value the trial reported (what runs are ranked by, as
    in Azure ML), ``final`` the last one (what the sampler learns from).

    Example::

        TrialSummary("s_3", 3, {"--lr": 0.01}, "Completed", best=0.93, final=0.92, steps=20)
    """

    run_id: str
    index: int
    params: dict[str, Any]
    status: str
    best: float | None
    final: float | None
    steps: int
    pruned: str | None = None
    sweep_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "hyperparameters": dict(self.params),
                "best_primary_metric": self.best, "final_primary_metric": self.final,
                "status": self.status, "steps": self.steps,
                "early_termination": self.pruned}


def summarize(trial: Trial, goal: str, sweep_id: str) -> TrialSummary:
    return TrialSummary(trial.trial_id, trial.index, dict(trial.params), trial.status,
                        trial.best(goal), trial.final, len(trial.points),
                        trial.cancel_reason if trial.pruned else None, sweep_id)


def rank(summaries: list[TrialSummary], goal: str) -> list[TrialSummary]:
    """Best first by ``best``; trials without a value last, in issue order."""
    sign = -1.0 if goal == "maximize" else 1.0

    def key(s: TrialSummary) -> tuple[int, float, str, int]:
        if s.best is None or math.isnan(s.best):
            return (1, 0.0, s.sweep_id or "", s.index)
        return (0, sign * s.best, s.sweep_id or "", s.index)

    return sorted(summaries, key=key)


def planned_trials(definition: dict[str, Any]) -> int | None:
    """How many trials the sweep will issue at most (None: bounded only by time)."""
    from ._sampling import sampling_from_dict

    size = sampling_from_dict(definition["sampling"]).total_size
    total = definition.get("max_total_runs")
    if total is None:
        return size
    return total if size is None else min(total, size)


class SweepRun(Run):
    """The run of a sweep: its trials are its children.

    Example::

        srun = SweepRun.get(ws, "digits_1718_ab12cd34")
        srun.get_progress()        # {'issued': 12, 'Completed': 9, 'Running': 3, ...}
        srun.cancel()              # stops the running trials too
    """

    @classmethod
    def get(cls, ws: Any, run_id: str) -> SweepRun:
        """An existing sweep run of the workspace by id."""
        _state.load(ws.store, run_id)
        run = Run._get(ws, run_id)
        return cls(run.experiment, run_id, _record=run._record)

    # definition --------------------------------------------------------------------------
    def _sweep_record(self) -> _state.SweepRecord:
        return _state.load(self._store, self.id)

    @property
    def definition(self) -> dict[str, Any]:
        return self._sweep_record().definition

    @property
    def primary_metric_name(self) -> str:
        return str(self.definition["primary_metric_name"])

    @property
    def primary_metric_goal(self) -> str:
        return str(self.definition["primary_metric_goal"])

    # trials ------------------------------------------------------------------------------
    def get_trials(self, *, include_resume_from_runs: bool = False) -> list[TrialSummary]:
        """Every trial in issue order (with ``include_resume_from_runs``, the earlier sweeps'
        trials first)."""
        from ._trials import load_trials

        record = self._sweep_record()
        definition = record.definition
        metric, goal = definition["primary_metric_name"], definition["primary_metric_goal"]
        out: list[TrialSummary] = []
        if include_resume_from_runs:
            for earlier in definition.get("resume_from") or ():
                out.extend(SweepRun.get(self.workspace, earlier).get_trials(
                    include_resume_from_runs=True))
        trials, _ = load_trials(self._store, self.id, metric, record.state,
                                definition.get("primary_metric_summary") or "best")
        out.extend(summarize(t, goal, self.id) for t in trials)
        return out

    def get_children_sorted_by_primary_metric(self, top: int = 0, reverse: bool = False,
                                              discard_no_metric: bool = False,
                                              ) -> list[dict[str, Any]]:
        """Trials best first (``reverse``: worst first), as dicts with ``run_id``,
        ``hyperparameters``, ``best_primary_metric``, ``final_primary_metric``, ``status``.

        ``top`` keeps the first ``top`` (0: all); ``discard_no_metric`` drops trials that
        never reported the primary metric (otherwise they come last).
        """
        if isinstance(top, bool) or not isinstance(top, int) or top < 0:
            raise SweepError(f"top must be an int >= 0 (0 = all), got {top!r}.")
        ranked = rank(self.get_trials(), self.primary_metric_goal)
        if discard_no_metric:
            ranked = [s for s in ranked if s.best is not None]
        if reverse:
            ranked.reverse()
        return [s.to_dict() for s in (ranked[:top] if top else ranked)]

    def get_best_run_by_primary_metric(self, include_failed: bool = True,
                                       include_canceled: bool = True,
                                       include_resume_from_runs: bool = True) -> Run | None:
        """The trial with the best reported primary-metric value, or None when no trial
        reported it. Early-terminated trials count as canceled ones."""
        allowed = {"Completed", *(["Failed"] if include_failed else []),
                   *(["Canceled"] if include_canceled else [])}
        trials = self.get_trials(include_resume_from_runs=include_resume_from_runs)
        ranked = [s for s in rank(trials, self.primary_metric_goal)
                  if s.best is not None and s.status in allowed]
        if not ranked:
            return None
        return Run._get(self.workspace, ranked[0].run_id)

    def get_metrics(self, name: str | None = None, recursive: bool = False, *,
                    attempts: str = "last") -> dict[str, Any]:
        """Every trial's metrics by trial run id (what HyperDrive's run returns)."""
        by_run = super().get_metrics(name, recursive=True, attempts=attempts)
        by_run.pop(self.id, None)
        return by_run

    def get_hyperparameters(self) -> dict[str, dict[str, Any]]:
        """Run id -> the hyperparameters of that trial."""
        return {s.run_id: s.params for s in self.get_trials()}

    def get_progress(self) -> dict[str, Any]:
        """Trial counts by status, how many were issued and the limit."""
        trials = self.get_trials()
        counts: dict[str, Any] = {}
        for trial in trials:
            counts[trial.status] = counts.get(trial.status, 0) + 1
        counts.update(issued=len(trials), pruned=sum(1 for t in trials if t.pruned),
                      planned=planned_trials(self.definition))
        return counts

    def get_warnings(self) -> list[str]:
        """Warnings the controller raised (e.g. trials never log the primary metric)."""
        return list(self._sweep_record().state.get("warnings") or [])

    # controller --------------------------------------------------------------------------
    def controller_status(self) -> dict[str, Any]:
        """Pid, heartbeat age and liveness of the sweep's controller."""
        record = self._sweep_record()
        return {"pid": record.controller_pid, "host": record.host,
                "heartbeat_age_seconds": record.heartbeat_age,
                "alive": record.controller_alive()}

    def resume(self, *, detach: bool = True) -> SweepRun:
        """Restart the controller of a sweep whose controller died.

        Finished trials are kept, running ones reattached (or requeued when their task was
        lost) and the sampler rebuilt from the history. ``detach=False`` drives the sweep in
        this process until it ends.
        """
        from ._entry import run_controller, spawn_controller

        status = self.get_status()
        if status in TERMINAL:
            raise SweepError(f"sweep {self.id} already ended ({status}); nothing to resume. "
                             f"Warm-start a new sweep from it with resume_from={self.id!r}.")
        record = self._sweep_record()
        if record.controller_alive():
            raise SweepError(f"sweep {self.id} has a live controller (pid "
                             f"{record.controller_pid}); there is nothing to resume.")
        if detach:
            spawn_controller(self.workspace, self.id)
        else:
            run_controller(self.workspace, self.id)
        return self

    def cancel(self, reason: str = "canceled by user") -> str:
        """Cancel the sweep and its active trials."""
        status = super().cancel(reason)
        if status == "CancelRequested" and not self._sweep_record().controller_alive():
            self._store.try_transition(self.id, "Canceled", reason=f"{reason} (no controller "
                                                                   f"was running)")
        return self.get_status()

    # waiting -----------------------------------------------------------------------------
    def wait_for_completion(self, show_output: bool = False, *, raise_on_error: bool = True,
                            timeout: float | None = None,
                            stream: TextIO | None = None, timeout_seconds: float | None = None,
                            wait_post_processing: bool = False,
                            resume_dead_controller: bool = True) -> dict[str, Any]:
        """Block until the sweep ends; with ``show_output`` stream the controller's log.

        A controller that died without ending the sweep is resumed from here (finished trials
        kept, running ones reattached), at most ``MAX_REVIVALS`` times; with
        ``resume_dead_controller=False``, or past that, it raises SweepError instead (resume
        it with ``srun.resume()`` or ``cumulus sweep resume ID``).
        """
        timeout = timeout if timeout is not None else timeout_seconds  # SDK v1 name
        out = stream or sys.stdout
        revivals = [MAX_REVIVALS if resume_dead_controller else 0]

        def check_controller() -> None:
            if self._check_controller(revive=revivals[0] > 0):
                revivals[0] -= 1
                print(f"[cumulus] the controller of sweep {self.id} had stopped; resumed it",
                      file=sys.stderr, flush=True)

        if show_output:
            out.write(f"RunId: {self.id}\n")
        status = self._follow(out if show_output else None, timeout=timeout,
                              idle=check_controller, idle_every=LIVENESS_CHECK, label="Sweep")
        if show_output:
            out.write(f"\nSweep {self.id} finished: {status}\n")
            out.flush()
        details = self.get_details()
        if raise_on_error and status != "Completed":
            self._raise(details)
        return details

    def _check_controller(self, revive: bool = False) -> bool:
        """True when a dead controller was resumed; raises when it may not be."""
        record = self._sweep_record()
        if record.controller_alive() or self.get_status() in TERMINAL:
            return False
        if revive:
            try:
                self.resume()
                return True
            except SweepError:      # another client resumed it first, or the sweep ended
                return False
        raise SweepError(f"the controller of sweep {self.id} stopped without finishing it "
                         f"(pid {record.controller_pid}); resume it with srun.resume() or "
                         f"`cumulus sweep resume {self.id}`.")
