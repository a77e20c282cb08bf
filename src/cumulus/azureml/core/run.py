"""``azureml.core.run``: Run, and ``Run.get_context()`` inside a script.

Outside a script a run is Cumulus's own :class:`cumulus.Run` (same methods: ``get_metrics``,
``get_details()['runDefinition']``, ``get_file_names``, ``download_file(s)``,
``register_model``, ``get_children``, ``wait_for_completion``, ``cancel``...). Inside a script,
``Run.get_context()`` adds what SDK scripts read: ``input_datasets`` (the run's named inputs),
``experiment``, ``parent`` and the SDK's chart helpers (``log_confusion_matrix``...).
"""

from __future__ import annotations

import json
import os
from typing import Any

from cumulus.run import Run as _NativeRun


class _ScriptRun:
    """The executing run as SDK scripts see it: Cumulus's run context plus SDK extras."""

    def __init__(self, context: Any) -> None:
        self._ctx = context

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)

    @property
    def id(self) -> str:
        return str(self._ctx.id)

    @property
    def input_datasets(self) -> dict[str, Any]:
        """name -> a dataset over the local copy (or mount) of each named input."""
        from cumulus.azureml.core.dataset import LocalDataset

        out: dict[str, Any] = {}
        for key, value in os.environ.items():
            if key.startswith("CUMULUS_INPUT_") and not key.endswith("_OPTIONS"):
                out[key[len("CUMULUS_INPUT_"):].lower()] = LocalDataset(value)
        return out

    @property
    def output_datasets(self) -> dict[str, str]:
        return {k[len("CUMULUS_OUTPUT_"):].lower(): v for k, v in os.environ.items()
                if k.startswith("CUMULUS_OUTPUT_")}

    @property
    def experiment(self) -> Any:
        """The run's experiment (needs the workspace the run belongs to)."""
        return self._driver_run().experiment

    @property
    def parent(self) -> Any:
        return self._driver_run().parent

    def _driver_run(self) -> _NativeRun:
        from cumulus.workspace import Workspace

        ws = Workspace.from_config(os.environ.get("CUMULUS_WORKSPACE") or None)
        return _NativeRun.get(ws, self.id)

    def get_context(self, allow_offline: bool = True, **_: Any) -> _ScriptRun:
        return self

    # the SDK's chart helpers: stored as JSON metrics under the same names
    def _log_json(self, name: str, value: Any) -> None:
        doc = json.loads(value) if isinstance(value, str) else value
        self._ctx.log(name, json.dumps(doc))

    def log_confusion_matrix(self, name: str, value: Any, description: str = "") -> None:
        self._log_json(name, value)

    def log_accuracy_table(self, name: str, value: Any, description: str = "") -> None:
        self._log_json(name, value)

    def log_residuals(self, name: str, value: Any, description: str = "") -> None:
        self._log_json(name, value)

    def log_predictions(self, name: str, value: Any, description: str = "") -> None:
        self._log_json(name, value)

    def upload_files(self, names: list[str], paths: list[str], **_: Any) -> None:
        for name, path in zip(names, paths, strict=True):
            self._ctx.upload_file(name, path)

    def fail(self, error_details: Any = None, **_: Any) -> None:
        raise SystemExit(f"run.fail(): {error_details or 'failed by the script'}")

    def cancel(self) -> None:
        raise SystemExit("run.cancel() inside the script")


class Run(_NativeRun):
    """A run of the workspace; ``Run.get_context()`` inside a script."""

    _by_record = True  # Run(exp, id) of a sweep gives its SweepRun, as in the native API

    @staticmethod
    def get_context(allow_offline: bool = True, **_: Any) -> Any:
        from cumulus.tasks.context import get_context

        return _ScriptRun(get_context())

    @staticmethod
    def list(experiment: Any, type: str | None = None, tags: Any = None,
             properties: Any = None, status: str | None = None,
             include_children: bool = False, **_: Any) -> list[_NativeRun]:
        return list(experiment.get_runs(include_children=include_children, status=status))


__all__ = ["Run"]
