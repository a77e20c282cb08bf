"""Experiment: a named group of runs.

Example::

    exp = Experiment(ws, "digits")
    run = exp.submit(ScriptRunConfig(source_directory="src", script="train.py"))
    for r in exp.get_runs():
        print(r.id, r.get_status())
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Any, overload

from cumulus.errors import ValidationError

if TYPE_CHECKING:
    from cumulus.flows._pipeline import Pipeline, PipelineRun
    from cumulus.run import Run
    from cumulus.runconfig import ScriptRunConfig
    from cumulus.sweeps import Sweep, SweepRun
    from cumulus.workspace import Workspace


class Experiment:
    """A named set of runs in a workspace; created on first use."""

    def __init__(self, workspace: Workspace, name: str) -> None:
        if not name or len(name) > 200 or not all(c.isalnum() or c in "-_." for c in name):
            raise ValidationError(f"Experiment name {name!r} is invalid: use 1-200 letters, "
                                  "digits, '-', '_' or '.'.")
        self.workspace = workspace
        self.name = name

    @cached_property
    def id(self) -> int:
        return int(self.workspace.store.get_or_create_experiment(self.name)["id"])

    @overload
    def submit(self, config: ScriptRunConfig, tags: dict[str, Any] | None = None,
               **kwargs: Any) -> Run: ...
    @overload
    def submit(self, config: Sweep, tags: dict[str, Any] | None = None,
               **kwargs: Any) -> SweepRun: ...
    @overload
    def submit(self, config: Pipeline, tags: dict[str, Any] | None = None,
               **kwargs: Any) -> PipelineRun: ...
    @overload
    def submit(self, config: Any, tags: dict[str, Any] | None = None, **kwargs: Any) -> Run: ...

    def submit(self, config: Any, tags: dict[str, Any] | None = None, **kwargs: Any) -> Run:
        """Validate ``config`` completely, record it Queued and hand it to its compute target.

        ``config`` is a ScriptRunConfig, a Sweep, an AutoMLConfig or a pipeline; the run class
        returned matches it (Run, SweepRun, PipelineRun, ...).
        """
        from cumulus._checks import check_tags
        from cumulus.submission import submit_config

        priority = kwargs.pop("priority", None)
        if priority is not None:
            kwargs["extra_definition"] = {**(kwargs.get("extra_definition") or {}),
                                          "priority": _check_priority(config, priority)}
        return submit_config(config, self, tags=check_tags(tags) if tags else tags, **kwargs)

    def get_runs(self, *, include_children: bool = False, status: str | None = None,
                 limit: int | None = None) -> Iterator[Run]:
        from cumulus.run import Run

        for rec in self.workspace.store.list_runs(experiment_id=self.id,
                                                  top_level=not include_children,
                                                  status=status, limit=limit):
            yield Run(self, rec["id"], _record=rec)

    def __repr__(self) -> str:
        return f"Experiment(name={self.name!r}, workspace={self.workspace.name!r})"


MAX_PRIORITY = 1000


def _check_priority(config: Any, priority: Any) -> int:
    """``submit(..., priority=N)``: among waiting runs, higher goes first (default 0)."""
    if not getattr(type(config), "accepts_priority", False):
        raise ValidationError(f"priority= applies to script runs, sweeps and AutoML runs, not "
                              f"to a {type(config).__name__}.")
    if isinstance(priority, bool) or not isinstance(priority, int) or \
            abs(priority) > MAX_PRIORITY:
        raise ValidationError(f"priority must be an int from -{MAX_PRIORITY} to {MAX_PRIORITY} "
                              f"(higher starts first; default 0), got {priority!r}.")
    return int(priority)
