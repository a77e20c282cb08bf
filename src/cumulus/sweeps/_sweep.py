"""Sweep: a hyperparameter sweep over a script, submitted like any run.

``exp.submit(sweep)`` validates everything (bad input fails here, before any trial exists),
pins the script's source snapshot, records the sweep run (kind ``"sweep"``) with its full
definition and starts a detached controller process, then returns at once with a
:class:`~cumulus.sweeps.SweepRun`. The controller issues trials (child runs, each a script run
with the hyperparameters appended as ``--name value`` arguments and set as
``CUMULUS_PARAM_<NAME>`` environment variables) and follows them to the end.

Example::

    sweep = Sweep(run_config=src,
                  sampling=RandomSampling({"--lr": loguniform(-6, -1),
                                           "--batch": choice(16, 32, 64)}),
                  primary_metric_name="accuracy", primary_metric_goal="maximize",
                  policy=BanditPolicy(slack_factor=0.1, evaluation_interval=1,
                                      delay_evaluation=5),
                  max_total_runs=40, max_concurrent_runs=4, max_duration_minutes=60)
    srun = exp.submit(sweep)
    srun.wait_for_completion(show_output=True)
    best = srun.get_best_run_by_primary_metric()
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cumulus.errors import CumulusError, SweepClaimedError, SweepError, ValidationError
from cumulus.specs import SweepSpec as SweepDoc

from ._policies import EarlyTerminationPolicy, policy_from_dict
from ._sampling import GridSampling, sampling_from_dict
from ._sampling_base import Sampling, normalize_goal

if TYPE_CHECKING:
    from cumulus.experiment import Experiment
    from cumulus.runconfig import ScriptRunConfig

    from ._run import SweepRun

DEFINITION_VERSION = 1


def _positive_int(name: str, value: Any, fix: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SweepError(f"{name} must be an int >= 1 (or None), got {value!r}. {fix}")
    return int(value)


def _duration(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            math.isfinite(value) and value > 0):
        raise SweepError(f"max_duration_minutes must be a number > 0 (or None for no limit), "
                         f"got {value!r}.")
    return float(value)


def _run_ids(resume_from: Any) -> tuple[str, ...]:
    if resume_from is None:
        return ()
    items = resume_from if isinstance(resume_from, (list, tuple)) else [resume_from]
    out = []
    for item in items:
        run_id = getattr(item, "id", item)
        if not isinstance(run_id, str) or not run_id:
            raise SweepError(f"resume_from takes earlier sweep runs (SweepRun objects or run "
                             f"ids), got {item!r}.")
        out.append(run_id)
    return tuple(out)


class Sweep:
    """A hyperparameter sweep of ``run_config``'s script; submit it with ``exp.submit(sweep)``.

    ``sampling`` draws the hyperparameters (its space's names are the script's flags,
    ``"--lr"`` or ``"lr"``); trials must ``run.log(primary_metric_name, value)``; ``policy``
    stops trials that trail (default: none). Limits: ``max_total_runs`` trials in all (needed
    unless the sampling is a grid or ``max_duration_minutes`` is set), ``max_concurrent_runs``
    at once (default: as many as the compute target runs at once), ``max_duration_minutes`` of
    wall clock (trials still running then are cancelled). ``resume_from`` warm-starts the
    sampler with the finished trials of earlier sweeps.

    Example::

        Sweep(run_config=ScriptRunConfig(source_directory="src", script="train.py"),
              sampling=GridSampling({"--batch": choice(16, 32)}),
              primary_metric_name="accuracy", primary_metric_goal="maximize")
    """

    #: ``exp.submit(sweep, priority=N)``: every trial waits with that priority
    accepts_priority = True

    def __init__(self, run_config: ScriptRunConfig, sampling: Sampling | Mapping[str, Any],
                 primary_metric_name: str, primary_metric_goal: Any = "maximize", *,
                 policy: EarlyTerminationPolicy | Mapping[str, Any] | str | None = None,
                 max_total_runs: int | None = None, max_concurrent_runs: int | None = None,
                 max_duration_minutes: float | None = None, resume_from: Any = None,
                 primary_metric_summary: str = "best") -> None:
        self.run_config = self._check_run_config(run_config)
        if primary_metric_summary not in ("best", "last"):
            raise SweepError(f"primary_metric_summary must be 'best' (a trial is ranked by its "
                             f"best logged value) or 'last' (by its last one, e.g. a running "
                             f"cross-validated mean), got {primary_metric_summary!r}.")
        self.primary_metric_summary = primary_metric_summary
        self.sampling = self._check_sampling(sampling)
        self.primary_metric_name = self._check_metric(primary_metric_name)
        self.primary_metric_goal = normalize_goal(primary_metric_goal)
        self._check_goal_agrees()
        self.policy = policy_from_dict(policy)
        self.max_total_runs = _positive_int(
            "max_total_runs", max_total_runs, "It is the number of trials to run in all.")
        self.max_concurrent_runs = _positive_int(
            "max_concurrent_runs", max_concurrent_runs,
            "It is how many trials run at the same time; use 1 to run them one by one.")
        self.max_duration_minutes = _duration(max_duration_minutes)
        self.resume_from = _run_ids(resume_from)
        self._check_budget()

    @property
    def compute_target(self) -> str | None:
        """Where the trials run (the run_config's target); pipelines read it for a step."""
        return self.run_config.compute_target

    # validation --------------------------------------------------------------------------
    @staticmethod
    def _check_run_config(run_config: Any) -> ScriptRunConfig:
        from cumulus.runconfig import ScriptRunConfig

        if not isinstance(run_config, ScriptRunConfig):
            raise SweepError(f"run_config must be a ScriptRunConfig, got "
                             f"{type(run_config).__name__}; e.g. ScriptRunConfig("
                             f"source_directory='src', script='train.py').")
        return run_config

    @staticmethod
    def _check_sampling(sampling: Any) -> Sampling:
        if isinstance(sampling, Sampling):
            return sampling
        if isinstance(sampling, Mapping):
            return sampling_from_dict(sampling)
        raise SweepError(f"sampling must be a sampler such as RandomSampling({{'--lr': "
                         f"uniform(0, 1)}}) or its dict form, got {type(sampling).__name__}.")

    @staticmethod
    def _check_metric(name: Any) -> str:
        if not isinstance(name, str) or not name.strip():
            raise SweepError(f"primary_metric_name must be the name the script logs with "
                             f"run.log(name, value), e.g. 'accuracy'; got {name!r}.")
        return name.strip()

    def _check_goal_agrees(self) -> None:
        own = getattr(self.sampling, "goal", None)
        if own is not None and own != self.primary_metric_goal:
            raise SweepError(f"the sampler was built with goal={own!r} but "
                             f"primary_metric_goal is {self.primary_metric_goal!r}; drop the "
                             f"sampler's goal (the sweep passes its own) or make them agree.")

    def _check_budget(self) -> None:
        if self.max_total_runs is None and self.max_duration_minutes is None and not \
                isinstance(self.sampling, GridSampling):
            raise SweepError(f"{type(self.sampling).__name__} never runs out of points: give "
                             f"max_total_runs (e.g. 20) or max_duration_minutes (e.g. 60).")

    # serialisation -----------------------------------------------------------------------
    def to_definition(self) -> dict[str, Any]:
        """The JSON document recorded with the sweep (what a controller resumes from)."""
        from cumulus.snapshot import take_snapshot

        rc = self.run_config
        source = Path(rc.source_directory).resolve()
        doc = {
            "type": "sweep", "version": DEFINITION_VERSION,
            "sampling": self.sampling.to_dict(), "policy": self.policy.to_dict(),
            "primary_metric_name": self.primary_metric_name,
            "primary_metric_goal": self.primary_metric_goal,
            "primary_metric_summary": self.primary_metric_summary,
            "max_total_runs": self.max_total_runs,
            "max_concurrent_runs": self.max_concurrent_runs,
            "max_duration_minutes": self.max_duration_minutes,
            "resume_from": list(self.resume_from),
            "run_config": {"source_directory": str(source), "script": rc.script,
                           "compute_target": rc.compute_target,
                           "source_digest": take_snapshot(source).digest if rc.script else None,
                           **rc.to_definition()},
        }
        SweepDoc.from_definition(doc)     # the typed spec checks what is recorded
        return doc

    # submission --------------------------------------------------------------------------
    def _step_kind(self) -> Any:
        """How a pipeline runs this sweep as a step (with inputs and an output)."""
        from ._step import SweepStep

        return SweepStep(self)

    def _submit(self, experiment: Experiment, *, tags: dict[str, Any] | None = None,
                parent: str | None = None, display_name: str | None = None,
                kind: str = "sweep", params: dict[str, Any] | None = None,
                properties: dict[str, Any] | None = None, reuse_key: str | None = None,
                extra_definition: dict[str, Any] | None = None) -> SweepRun:
        """Validate, record the sweep run and start its detached controller."""
        from cumulus.runconfig import new_run_id

        from . import _state
        from ._bridge import start_bridge
        from ._entry import spawn
        from ._run import SweepRun

        ws = experiment.workspace
        try:
            self.run_config.validate()
        except SweepError:
            raise
        except ValidationError as exc:
            raise SweepError(f"run_config: {exc}") from None
        definition = self.to_definition()
        definition["warm_start"] = _warm_start(ws.store, self.resume_from,
                                               self.primary_metric_name)
        template = _trial_template(ws, self.run_config)
        extra_definition = dict(extra_definition or {})
        template.definition.update(extra_definition.pop("trial_definition", None) or {})
        if extra_definition.get("priority") is not None:   # every trial waits with it
            template.definition["priority"] = int(extra_definition["priority"])
        definition["trial_template"] = template.to_dict()
        definition["max_concurrent_runs"] = self._concurrency(ws, template.compute_target)
        definition.update(extra_definition or {})
        run_id = new_run_id(experiment.name)
        store = ws.store
        store.create_run(run_id=run_id, experiment_id=experiment.id, kind=kind or "sweep",
                         status="Running", parent_id=parent,
                         display_name=display_name or f"sweep {self.run_config.script}",
                         tags=tags, params=params,
                         properties={**(properties or {}), "sweep": True},
                         definition=_summary(definition), compute_target=template.compute_target,
                         reuse_key=reuse_key, reason="sweep submitted")
        _state.create(store, run_id, definition)
        controller = None
        try:
            controller = spawn(ws, run_id)         # it imports while the first trials run
            if _first_trials(ws, experiment.id, run_id, definition, controller.pid):
                start_bridge(ws, run_id, controller)
        except Exception as exc:
            from cumulus.tasks.cancel import cancel_run

            if controller is not None:
                controller.terminate()             # it would find a failed sweep anyway
            message = f"the sweep could not start: {type(exc).__name__}: {exc}"
            cancel_run(store, run_id, message)  # its first trials, if any were issued
            store.try_transition(run_id, "Failed", reason=message, error={"message": message})
            if isinstance(exc, CumulusError):
                raise
            raise SweepError(message) from exc
        return SweepRun(experiment, run_id)

    def _concurrency(self, ws: Any, target_name: str) -> int:
        if self.max_concurrent_runs is not None:
            return self.max_concurrent_runs
        from cumulus.compute import ComputeTarget

        cfg = ComputeTarget(ws, target_name).config
        per_run = float((self.run_config.resources or {}).get("cpus", 1) or 1)
        slots = max(1, int(cfg.max_nodes * max(1.0, cfg.node.cpus // per_run)))
        total = self.max_total_runs or getattr(self.sampling, "total_size", None) or slots
        return max(1, min(slots, int(total)))

    def __repr__(self) -> str:
        return (f"Sweep({self.run_config.script!r}, {type(self.sampling).__name__}, "
                f"{self.primary_metric_goal} {self.primary_metric_name!r}, "
                f"policy={type(self.policy).__name__}, max_total_runs={self.max_total_runs}, "
                f"max_concurrent_runs={self.max_concurrent_runs})")


def _first_trials(ws: Any, experiment_id: int, sweep_id: str,
                  definition: dict[str, Any], controller: int) -> bool:
    """Issue the first batch of trials from here, so they start while the controller process
    (pid ``controller``) is still starting; it then takes them over as a resumed controller
    would. False when there is nothing more for a bridge to do (see ``_bridge.py``)."""
    from ._plan import SweepView, decide
    from ._spec import SweepSpec
    from ._trials import TrialSubmitter

    spec = SweepSpec.from_definition(definition)
    first = decide(SweepView(goal=spec.goal, trials=(), limits=spec.limits,
                             sampler=spec.sampler, policy=spec.policy,
                             warm_start=spec.warm_start)).launch
    if not first:
        return False
    submitter = TrialSubmitter(ws, experiment_id, sweep_id, spec.template,
                               before_claim_by=controller)
    try:
        for index, params in enumerate(first):
            run_id, trial_definition, _ = submitter.create(index, params)
            submitter.dispatch(run_id, trial_definition)
    except SweepClaimedError:          # the controller was quicker: it issues the rest
        return False
    return spec.limits.max_total_runs is None or spec.limits.max_total_runs > len(first)


def _trial_template(ws: Any, config: ScriptRunConfig) -> Any:
    """Pin the snapshot and resolve target and resources once for every trial."""
    from cumulus.compute import ComputeTarget
    from cumulus.snapshot import take_snapshot, upload_snapshot

    from ._trials import TrialTemplate

    target = ComputeTarget(ws, config.compute_target or ws.config.default_compute)
    resources = target.resources_for(config.resources, config.distribution)
    definition = config.to_definition()
    if config.script:
        snap = take_snapshot(config.source_directory)
        upload_snapshot(snap, ws.get_default_datastore())
        definition["snapshot"] = snap.digest
        definition["source_directory"] = str(snap.source)
    return TrialTemplate(definition, target.name, resources)


def _warm_start(store: Any, run_ids: Iterable[str], metric: str) -> list[dict[str, Any]]:
    """The finished trials of earlier sweeps, as sampler history records."""
    from . import _state
    from ._trials import load_trials

    records: list[dict[str, Any]] = []
    for run_id in run_ids:
        source = _state.load(store, run_id)
        theirs = source.definition.get("primary_metric_name")
        if theirs != metric:
            raise SweepError(f"resume_from sweep {run_id} optimised {theirs!r}, this sweep "
                             f"optimises {metric!r}; warm starts need the same primary metric.")
        trials, _ = load_trials(store, run_id, metric, source.state,
                                source.definition.get("primary_metric_summary") or "best")
        for trial in trials:
            record = trial.record()
            if record.state != "running":  # JSON (PostgreSQL's too) has no NaN or infinity
                records.append({"trial_id": record.trial_id, "params": dict(record.params),
                                "value": record.usable_value, "state": record.state})
    return records


def _summary(definition: dict[str, Any]) -> dict[str, Any]:
    """The sweep run's own definition column: the sweep without the warm-start records."""
    out = {k: v for k, v in definition.items() if k not in ("warm_start", "trial_template")}
    out["warm_start_trials"] = len(definition.get("warm_start") or ())
    SweepDoc.from_definition(out)
    return out


def _register() -> None:
    from cumulus.submission import submit_config

    @submit_config.register(Sweep)
    def _submit_sweep(config: Sweep, experiment: Experiment, **options: Any) -> SweepRun:
        return config._submit(experiment, **options)


_register()
