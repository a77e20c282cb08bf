"""Trials as runs: their arguments, their submission to Dask, and reading them back.

A trial is a child run of the sweep run with the id ``<sweep id>_<index>``, so a resumed
controller can never issue the same trial twice. Every trial runs the snapshot pinned when the
sweep was submitted (editing the source folder later changes nothing) and is handed straight
to the compute target's Dask cluster as one task, like any script run; no Prefect task is
involved.

Example::

    merge_arguments(["--epochs", 3, "--lr", 0.1], {"--lr": 0.01, "batch": 32})
    # ['--epochs', 3, '--lr', 0.01, '--batch', 32]
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cumulus.errors import CumulusError

from ._plan import EARLY_TERMINATION, Trial

TRIAL_KIND = "trial"


def flag(name: str) -> str:
    """The command-line flag of a parameter: ``"lr"`` and ``"--lr"`` both give ``"--lr"``."""
    return name if name.startswith("-") else f"--{name}"


def merge_arguments(base: Sequence[Any], params: Mapping[str, Any]) -> list[Any]:
    """``base`` with each parameter's ``--name value`` replacing any value it gave, appended.

    Both ``--lr 0.1`` and ``--lr=0.1`` in ``base`` are replaced.
    """
    flags = {flag(name): value for name, value in params.items()}
    out: list[Any] = []
    skip = False
    for arg in base:
        if skip:
            skip = False
            continue
        if isinstance(arg, str):
            if arg in flags:
                skip = True
                continue
            if "=" in arg and arg.split("=", 1)[0] in flags:
                continue
        out.append(arg)
    for name, value in flags.items():
        out.extend([name, argument_value(value)])
    return out


def argument_value(value: Any) -> Any:
    """A parameter's value as the script's command line gets it: itself, except a negative
    float that Python writes in scientific notation (``-1.2e-05``), which argparse would take
    for an option ("expected one argument"): written out positionally, the same float.

    >>> argument_value(-1.2e-05), argument_value(-0.5), argument_value(3e-07)
    ('-0.000012', -0.5, 3e-07)
    """
    if isinstance(value, float) and value < 0 and math.isfinite(value) and "e" in repr(value):
        return format(Decimal(repr(value)), "f")
    return value


def trial_id(sweep_id: str, index: int) -> str:
    return f"{sweep_id}_{index}"


def event_topic(sweep_id: str) -> str:
    """The Dask event topic on which executors announce the sweep's metric writes and ends."""
    return f"cumulus-sweep-{sweep_id}"


@dataclass(frozen=True)
class TrialTemplate:
    """What every trial of a sweep shares: its run definition, target and resources.

    Example::

        TrialTemplate({"type": "script", "script": "train.py", "arguments": [], ...},
                      compute_target="local", resources={"cpus": 1.0})
    """

    definition: Mapping[str, Any]
    compute_target: str
    resources: Mapping[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"definition": dict(self.definition), "compute_target": self.compute_target,
                "resources": dict(self.resources)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrialTemplate:
        return cls(dict(data["definition"]), str(data["compute_target"]),
                   {str(k): float(v) for k, v in dict(data.get("resources") or {}).items()})

    def trial_definition(self, sweep_id: str, index: int,
                         params: Mapping[str, Any]) -> dict[str, Any]:
        definition = dict(self.definition)
        definition["arguments"] = merge_arguments(definition.get("arguments") or [], params)
        definition["event_topic"] = event_topic(sweep_id)
        definition["sweep"] = {"run_id": sweep_id, "index": index}
        definition["share_group"] = sweep_id      # the fair-share queue: one group per sweep
        return definition


class TrialSubmitter:
    """Creates trial runs in the store and hands them to the compute target.

    Example::

        submitter = TrialSubmitter(ws, experiment_id, sweep_id, template)
        run_id, definition, params = submitter.create(3, {"--lr": 0.01})
        submitter.dispatch(run_id, definition)      # None, or why the cluster refused it
    """

    def __init__(self, ws: Any, experiment_id: int, sweep_id: str,
                 template: TrialTemplate, *, before_claim_by: int | None = None) -> None:
        from cumulus.compute import ComputeTarget

        self.ws, self.store = ws, ws.store
        self.experiment_id, self.sweep_id, self.template = experiment_id, sweep_id, template
        self.target = ComputeTarget(ws, template.compute_target)
        self.payload = ws.payload()
        # the submitting process's: record trials only until this controller claims the sweep
        self.guard = None if before_claim_by is None else (sweep_id, before_claim_by)

    def create(self, index: int, params: Mapping[str, Any],
               ) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """Record trial ``index`` as Queued (idempotent: an existing trial is kept); returns
        its run id, definition and parameters. Raises SweepClaimedError, recording nothing,
        when created ``before_claim_by`` a controller that has claimed the sweep."""
        from sqlalchemy.exc import IntegrityError

        run_id = trial_id(self.sweep_id, index)
        definition = self.template.trial_definition(self.sweep_id, index, params)
        try:
            self.store.create_run(
                run_id=run_id, experiment_id=self.experiment_id, kind=TRIAL_KIND,
                parent_id=self.sweep_id, display_name=f"trial {index}", params=dict(params),
                properties={"sweep_id": self.sweep_id, "trial_index": index},
                definition=definition, compute_target=self.target.name,
                reason=f"trial {index} of sweep {self.sweep_id}", while_unclaimed=self.guard)
        except IntegrityError:  # an earlier controller's, created just before it died
            record = self.store.get_run(run_id)
            return run_id, record["definition"], dict(record["params"] or {})
        return run_id, definition, dict(params)

    def dispatch(self, run_id: str, definition: dict[str, Any] | None = None) -> str | None:
        """Hand a Queued trial to the cluster; returns an error message instead of raising."""
        if definition is None:
            definition = self.store.get_run(run_id)["definition"]
        try:
            self.target.submit_run(run_id, self.payload, dict(self.template.resources),
                                   definition)
        except Exception as exc:  # the trial fails, the sweep goes on (fail-fast stops it)
            message = (f"compute target {self.target.name!r} did not accept the trial: "
                       f"{type(exc).__name__}: {exc}")
            self.store.try_transition(run_id, "Failed", reason=message,
                                      error={"message": message})
            return message
        return None

    def known_keys(self, run_ids: Iterable[str]) -> set[str] | None:
        """Run ids whose task the cluster's scheduler still holds; None when unknowable."""
        client_of = getattr(self.target.backend, "client", None)
        ids = list(run_ids)
        if client_of is None or not ids:
            return None if client_of is None else set()
        keys = {_task_key(i): i for i in ids}
        try:
            held = client_of().run_on_scheduler(_held_keys, keys=list(keys))
        except (CumulusError, OSError, TimeoutError):
            return None
        return {keys[k] for k in held}


def _task_key(run_id: str) -> str:
    """The Dask key under which the compute target queues a run."""
    from cumulus.compute import _base

    run_key = getattr(_base, "run_key", None)
    return run_key(run_id) if run_key is not None else f"cumulus-run-{run_id}"


def _held_keys(keys: list[str], dask_scheduler: Any = None) -> list[str]:
    """Runs on the scheduler: which of ``keys`` it still has."""
    tasks = dask_scheduler.tasks if dask_scheduler is not None else {}
    return [k for k in keys if k in tasks]


# --------------------------------------------------------------------------- reading back


def metric_value(row: Mapping[str, Any]) -> float | None:
    """A stored metric row's numeric value (NaN and infinities included), or None."""
    if row.get("kind") not in ("scalar", "int", None):
        return None
    value = row.get("value")
    if value is not None:
        return float(value)
    data = row.get("data")
    if isinstance(data, str):
        try:
            parsed = json.loads(data)
        except ValueError:
            return None
        if isinstance(parsed, str) and parsed.lower() in ("nan", "inf", "-inf", "infinity",
                                                          "-infinity"):
            return float(parsed)
        if isinstance(parsed, (int, float)) and not isinstance(parsed, bool):
            return float(parsed)
    return None


def points_from_rows(rows: Iterable[Mapping[str, Any]], floors: Mapping[str, int] | None = None,
                     ) -> dict[str, list[tuple[int, int, float]]]:
    """``{run_id: [(row id, step, value), ...]}`` in logging order, rows at or below a trial's
    floor (an abandoned attempt's) left out."""
    out: dict[str, list[tuple[int, int, float]]] = {}
    for row in rows:
        run = row["run_id"]
        if floors and row["id"] <= floors.get(run, 0):
            continue
        value = metric_value(row)
        if value is None:
            continue
        series = out.setdefault(run, [])
        step = row["step"] if row.get("step") is not None else len(series)
        series.append((int(row["id"]), int(step), value))
    for series in out.values():
        series.sort()
    return out


def pruned_reasons(store: Any, run_ids: Iterable[str]) -> dict[str, str]:
    """Early-termination reasons recorded with the cancellation of ``run_ids``."""
    out = {}
    for run_id in run_ids:
        for event in store.status_events(run_id):
            reason = event.get("reason") or ""
            if event["to_status"] == "CancelRequested" and reason.startswith(EARLY_TERMINATION):
                out[run_id] = reason
                break
    return out


def load_trials(store: Any, sweep_id: str, metric: str, state: Mapping[str, Any],
                summary: str = "best") -> tuple[list[Trial], int]:
    """Every trial of a sweep as recorded in the store, in issue order, and the id of the
    newest primary-metric row read."""
    children = [c for c in store.children(sweep_id) if c["kind"] == TRIAL_KIND]
    ids = [c["id"] for c in children]
    floors = {k: int(v) for k, v in dict(state.get("metric_floor") or {}).items()}
    rows = store.get_metric_rows(ids, metric) if ids else []
    points = points_from_rows(rows, floors)
    pruned = dict(state.get("pruned") or {})
    missing = [c["id"] for c in children if c["status"] == "Canceled" and c["id"] not in pruned]
    pruned.update(pruned_reasons(store, missing))
    trials = [Trial(trial_id=c["id"], index=int((c.get("properties") or {}).get(
                  "trial_index", i)), params=dict(c.get("params") or {}), status=c["status"],
                  points=tuple((s, v) for _, s, v in points.get(c["id"], [])),
                  cancel_reason=pruned.get(c["id"]), pruned=c["id"] in pruned,
                  judged=len(points.get(c["id"], [])), summary=summary)
              for i, c in enumerate(children)]
    cursor = max((int(r["id"]) for r in rows), default=0)
    return sorted(trials, key=lambda t: t.index), cursor
