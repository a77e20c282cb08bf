"""The sweep controller's decisions, kept pure: a frozen view of the sweep in, a decision out.

The controller loop (``_controller.py``) reads the store, builds a :class:`SweepView` and applies
the :class:`Decision` that :func:`decide` returns: which trials to cancel (and why), which
parameter points to launch, and whether the sweep is finished. Nothing here does I/O, so every
rule is tested with literals.

Example::

    view = SweepView(goal="maximize", trials=(Trial("s_0", 0, {"--lr": 0.1}, "Running",
                                                     ((0, 0.5), (1, 0.6))),),
                     limits=Limits(max_total_runs=4, max_concurrent_runs=2),
                     sampler=RandomSampling({"--lr": uniform(0, 1)}, seed=0),
                     policy=NoTerminationPolicy())
    decide(view).launch          # one new point: 1 running of 2 allowed, 3 of 4 left to issue
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ._policies import (
    EarlyTerminationPolicy,
    NoTerminationPolicy,
    PolicySnapshot,
    TrialProgress,
)
from ._sampling_base import Goal, Sampling, TrialRecord, TrialState

ACTIVE_STATUSES = frozenset({"NotStarted", "Queued", "Preparing", "Starting", "Running",
                             "Finalizing", "CancelRequested"})
EARLY_TERMINATION = "early termination"
FAIL_FAST = 3  # this many failed trials and none completed: stop issuing, the script is broken
REPLAY_MAX = 20  # at most this many skipped intervals (the latest) judged per trial and step


@dataclass(frozen=True)
class Limits:
    """The sweep's budget: trials in total and at once, and wall-clock duration.

    Example::

        Limits(max_total_runs=40, max_concurrent_runs=4, max_duration_seconds=3600)
    """

    max_total_runs: int | None = None
    max_concurrent_runs: int = 1
    max_duration_seconds: float | None = None


@dataclass(frozen=True)
class Trial:
    """One trial as the controller sees it: run status and primary-metric points so far.

    ``cancel_reason`` is set once this controller asked for the trial to be cancelled;
    ``pruned`` says that an early-termination policy did it (the sampler then counts the trial
    as pruned, not failed). ``judged`` is how many of its intervals the policy has already
    seen: metrics arrive in batches, so the intervals a batch skipped over are judged too.

    Example::

        Trial("sweep_1", 1, {"--lr": 0.01}, "Running", ((0, 0.61), (1, 0.70)))
    """

    trial_id: str
    index: int
    params: Mapping[str, Any]
    status: str = "Queued"
    points: tuple[tuple[int, float], ...] = ()
    cancel_reason: str | None = None
    pruned: bool = False
    judged: int = 0
    summary: str = "best"

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def stopping(self) -> bool:
        """Active but already asked to stop (by this controller or by the user)."""
        return self.active and (self.cancel_reason is not None or
                                self.status == "CancelRequested")

    @property
    def values(self) -> tuple[float, ...]:
        return tuple(value for _, value in self.points)

    @property
    def final(self) -> float | None:
        """The last reported primary-metric value (what the sampler learns from)."""
        return self.points[-1][1] if self.points else None

    def best(self, goal: Goal | str) -> float | None:
        """The value the trial is ranked by: its best reported value (NaN never wins), or with
        ``summary="last"`` its last finite one (a running estimate such as a cross-validated
        mean); None without finite values."""
        finite = [v for _, v in self.points if not math.isnan(v)]
        if not finite:
            return None
        if self.summary == "last":
            return finite[-1]
        return max(finite) if goal == "maximize" else min(finite)

    def record(self) -> TrialRecord:
        """The trial as a sampler history entry (made once: a trial is replaced, never
        changed, and the sampler's history is rebuilt for every launch)."""
        made = self.__dict__.get("_record")
        if made is None:
            made = self._make_record()
            object.__setattr__(self, "_record", made)
        return made

    def _make_record(self) -> TrialRecord:
        state: TrialState
        if self.active:
            state = "running"
        elif self.status == "Completed":
            state = "complete"
        elif self.pruned:
            state = "pruned"
        else:
            state = "failed"
        return TrialRecord(self.trial_id, self.params, value=self.final, state=state)


@dataclass(frozen=True)
class SweepView:
    """Everything a decision needs, frozen."""

    goal: Goal
    trials: tuple[Trial, ...]
    limits: Limits
    sampler: Sampling
    policy: EarlyTerminationPolicy
    warm_start: tuple[TrialRecord, ...] = ()
    elapsed_seconds: float = 0.0
    cancel_requested: bool = False
    primary_metric_name: str = "metric"


@dataclass(frozen=True)
class Decision:
    """What the controller does next.

    ``cancel`` maps trial ids to the reason recorded with the cancellation; ``pruned`` names
    those an early-termination policy cancelled; ``launch`` holds the parameter points of new
    trials in issue order; ``finish`` is the sweep's final status once nothing is left to do.
    """

    cancel: Mapping[str, str] = field(default_factory=dict)
    pruned: frozenset[str] = frozenset()
    launch: tuple[dict[str, Any], ...] = ()
    finish: str | None = None
    message: str = ""


def history(view: SweepView) -> tuple[TrialRecord, ...]:
    """The sampler's history: warm-start records first, then this sweep's trials in order."""
    return view.warm_start + tuple(t.record() for t in sorted(view.trials, key=_index))


def _index(trial: Trial) -> int:
    return trial.index


def decide(view: SweepView) -> Decision:
    """The next step of the sweep described by ``view``."""
    active = [t for t in view.trials if t.active]
    if view.cancel_requested:
        return _wind_down(active, "the sweep was canceled", "Canceled")
    limit = view.limits.max_duration_seconds
    if limit is not None and view.elapsed_seconds >= limit:
        minutes = limit / 60
        return _wind_down(active, f"max_duration_minutes ({minutes:g}) reached",
                          _final_status(view.trials))
    cancel = policy_cancels(view)
    if _failing(view.trials):
        broken = [t.trial_id for t in view.trials if t.status == "Failed"][:FAIL_FAST]
        message = (f"stopping: {len(broken)} trials failed ({', '.join(broken)}) and none "
                   f"completed; fix the script (see `cumulus runs logs {broken[0]}`)")
        finish = None if active else "Failed"
        return Decision(cancel=cancel, pruned=frozenset(cancel), finish=finish, message=message)
    launch, done_issuing = _launch(view, len(active))
    finish = None
    message = ""
    if not active and not launch and done_issuing:
        finish = _final_status(view.trials)
        message = _finish_message(view, finish)
    return Decision(cancel=cancel, pruned=frozenset(cancel), launch=tuple(launch),
                    finish=finish, message=message)


def _wind_down(active: list[Trial], reason: str, status: str) -> Decision:
    cancel = {t.trial_id: reason for t in active if not t.stopping}
    return Decision(cancel=cancel, finish=None if active else status,
                    message=f"{reason}; {len(active)} trial(s) still stopping" if active
                    else reason)


def policy_cancels(view: SweepView) -> dict[str, str]:
    """Running trials the early-termination policy stops now, with the recorded reason.

    Each running trial is judged at its current interval and at the intervals its last batch
    of metrics skipped over (the latest ``REPLAY_MAX`` of them), as if it had been judged
    after every single value.
    """
    trials = [t for t in view.trials if t.points]
    if not trials or isinstance(view.policy, NoTerminationPolicy):
        return {}
    progress = {t.trial_id: TrialProgress(t.trial_id, t.points, running=_cancellable(t))
                for t in trials}
    chosen = view.policy.trials_to_cancel(PolicySnapshot(view.goal, tuple(progress.values())))
    out = {tid: len(progress[tid].points) for tid in chosen}
    for trial in trials:
        if trial.trial_id in out or not _cancellable(trial):
            continue
        start = max(trial.judged, len(trial.points) - REPLAY_MAX, 0)
        for k in range(start + 1, len(trial.points)):
            earlier = {**progress, trial.trial_id: TrialProgress(trial.trial_id,
                                                                 trial.points[:k])}
            snapshot = PolicySnapshot(view.goal, tuple(earlier.values()))
            if trial.trial_id in view.policy.trials_to_cancel(snapshot):
                out[trial.trial_id] = k
                break
    by_id = {t.trial_id: t for t in trials}
    return {tid: _reason(view, by_id[tid], out[tid])
            for tid in sorted(out, key=lambda i: by_id[i].index)}


def _cancellable(trial: Trial) -> bool:
    """Running and not stopping yet; a trial whose script already exited (Finalizing) is let
    finish."""
    return trial.active and not trial.stopping and trial.status != "Finalizing"


def _reason(view: SweepView, trial: Trial, interval: int) -> str:
    best = replace(trial, points=trial.points[:interval]).best(view.goal)
    shown = "none" if best is None else f"{best:.6g}"
    return (f"{EARLY_TERMINATION}: {policy_text(view.policy)} stopped it at interval "
            f"{interval} (best {view.primary_metric_name} so far: {shown})")


def policy_text(policy: EarlyTerminationPolicy) -> str:
    """``BanditPolicy(slack_factor=0.1, evaluation_interval=1, delay_evaluation=5)``: the
    policy with the settings it uses."""
    settings = {k: v for k, v in policy.to_dict().items() if k != "type" and v is not None}
    return f"{type(policy).__name__}({', '.join(f'{k}={v!r}' for k, v in settings.items())})"


def _failing(trials: tuple[Trial, ...]) -> bool:
    failed = sum(1 for t in trials if t.status == "Failed")
    succeeded = any(t.status == "Completed" or t.points for t in trials)
    return failed >= FAIL_FAST and not succeeded


def _launch(view: SweepView, active: int) -> tuple[list[dict[str, Any]], bool]:
    """(points to launch now, whether the sweep has issued everything it ever will)."""
    issued = len(view.trials)
    total = view.limits.max_total_runs
    left = math.inf if total is None else total - issued
    if left <= 0:
        return [], True
    room = int(min(view.limits.max_concurrent_runs - active, left))
    if room <= 0:
        return [], False
    past = history(view)
    if view.sampler.exhausted(past):
        return [], True
    points = view.sampler.suggest(past, room, goal=view.goal)
    return points, len(points) < room


def _final_status(trials: tuple[Trial, ...]) -> str:
    if any(t.status == "Completed" for t in trials):
        return "Completed"
    if any(t.status == "Failed" for t in trials):
        return "Failed"
    return "Completed"


def relevant_params(params: dict[str, Any], space: Any) -> dict[str, Any]:
    """``params`` without conditional ones that do not apply: a parameter named
    ``--<value>__<name>`` belongs to ``<value>`` of a choice parameter (AutoML's
    ``--LightGBM__num_leaves`` to ``--model``) and is left out while that choice is another.

    >>> from cumulus.sweeps import SearchSpace, choice, uniform
    >>> space = SearchSpace({"--model": choice("a", "b"), "--a__x": uniform(0, 1),
    ...                      "--b__y": uniform(0, 1), "--lr": uniform(0, 1)})
    >>> relevant_params({"--model": "a", "--a__x": 0.5, "--b__y": 0.1, "--lr": 0.2}, space)
    {'--model': 'a', '--a__x': 0.5, '--lr': 0.2}
    """
    owner: dict[str, str] = {}
    for name in space.names:
        expr = space[name]
        for value in getattr(expr, "values", ()) if expr.type_name == "choice" else ():
            owner[str(value)] = name
    out = {}
    for key, value in params.items():
        prefix = key.lstrip("-").split("__", 1)[0] if "__" in key else None
        chooser = owner.get(prefix) if prefix is not None else None
        if chooser is not None and str(params.get(chooser)) != prefix:
            continue
        out[key] = value
    return out


def _finish_message(view: SweepView, status: str) -> str:
    done = len(view.trials)
    best = best_trial(view.trials, view.goal)
    text = f"sweep {status.lower()}: {done} trial(s)"
    if best is not None:
        value = best.best(view.goal)
        shown = relevant_params(dict(best.params), view.sampler.space)
        text += (f"; best {view.primary_metric_name} = {value:.6g} by {best.trial_id} "
                 f"{shown}")
    return text


def best_trial(trials: Collection[Trial], goal: Goal | str,
               statuses: Collection[str] | None = None) -> Trial | None:
    """The trial with the best reported value (ties: the earlier one), optionally among
    trials in ``statuses``."""
    best: Trial | None = None
    current = 0.0
    sign = 1.0 if goal == "maximize" else -1.0
    for trial in sorted(trials, key=_index):
        if statuses is not None and trial.status not in statuses:
            continue
        value = trial.best(goal)
        if value is not None and (best is None or sign * value > sign * current):
            best, current = trial, value
    return best


def primary_metric_warning(primary: str, logged: Mapping[str, Collection[str]]) -> str | None:
    """A loud warning when trials logged metrics but none of them the primary metric.

    ``logged`` maps trial ids to the metric names they logged so far.

    Example::

        primary_metric_warning("accuracy", {"s_0": {"acc", "loss"}})
        # "WARNING: the trials log 'acc', 'loss' but not the primary metric 'accuracy' ..."
    """
    if any(primary in names for names in logged.values()):
        return None
    names = sorted({name for names in logged.values() for name in names})
    if not names:
        return None
    shown = ", ".join(repr(n) for n in names[:10])
    return (f"WARNING: the trials log {shown} but not the primary metric {primary!r}."
            f"{_closest(primary, names)} Without it the sampler learns nothing, the "
            f"early-termination policy never acts and no best run can be chosen. Fix "
            f"primary_metric_name or log it in the script: run.log({primary!r}, value).")


def _closest(primary: str, names: list[str]) -> str:
    lowered = primary.lower()
    related = [n for n in names if n.lower() in lowered or lowered in n.lower()]
    found = related or difflib.get_close_matches(primary, names, n=1, cutoff=0.5)
    return f" Did you mean {found[0]!r}?" if found else ""
