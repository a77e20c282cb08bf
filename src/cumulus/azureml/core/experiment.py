"""``azureml.core.experiment``: Experiment (``submit``, ``get_runs``, ``Experiment.list``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cumulus.experiment import Experiment as _NativeExperiment
from cumulus.run import Run


class Experiment(_NativeExperiment):
    def __init__(self, workspace: Any, name: str, _skip_name_validation: bool = False,
                 _id: Any = None, _archived_time: Any = None, _create_in_cloud: bool = True,
                 **_: Any) -> None:
        super().__init__(workspace, name)

    def submit(self, config: Any, tags: dict[str, Any] | None = None,  # type: ignore[override]
               **kwargs: Any) -> Run:
        return super().submit(config, tags=tags, **kwargs)

    def get_runs(self, type: str | None = None, tags: Any = None,
                 properties: Any = None, include_children: bool = False,
                 status: str | None = None, limit: int | None = None) -> Iterator[Run]:
        for run in super().get_runs(include_children=include_children, status=status,
                                    limit=limit):
            if type and run.kind != _KINDS.get(type, type):
                continue
            if tags and not _matches(run.get_tags(), tags):
                continue
            yield run

    @staticmethod
    def list(workspace: Any, experiment_name: str | None = None, view_type: Any = None,
             tags: Any = None) -> list[Experiment]:
        names = [e["name"] for e in workspace.store.list_experiments()]
        return [Experiment(workspace, n) for n in names
                if experiment_name is None or n == experiment_name]

    def archive(self) -> None:
        from cumulus.azureml._compat import azure_only

        azure_only("Experiment.archive", self.name, "experiments stay listed")


_KINDS = {"azureml.scriptrun": "script", "hyperdrive": "sweep", "azureml.PipelineRun": "pipeline"}


def _matches(have: dict[str, Any], want: Any) -> bool:
    if isinstance(want, str):
        return want in have
    if isinstance(want, dict):
        return all(have.get(k) == v for k, v in want.items())
    return all(k in have for k in want)


__all__ = ["Experiment"]
