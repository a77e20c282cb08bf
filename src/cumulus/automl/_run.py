"""AutoMLRun: the run of an automated ML search; its children are the trials (and the
``VotingEnsemble`` built at the end).

Example::

    run = exp.submit(automl_config)                  # or AutoMLRun.get(ws, run_id)
    run.wait_for_completion(show_output=True)
    best_run, model = run.get_output()               # the ensemble or the best trial
    run.get_leaderboard()[:5]                         # best first
    model.predict(new_rows)
"""

from __future__ import annotations

import json
import pickle
import tempfile
from pathlib import Path
from typing import Any

from cumulus.errors import AutoMLError, RunError
from cumulus.run import Run
from cumulus.sweeps._run import SweepRun


class AutoMLRun(SweepRun):
    """An AutoML run: a sweep over model families with an ensemble and a leaderboard."""

    @property
    def settings(self) -> dict[str, Any]:
        """Task, label, primary metric, featurization plan, guardrails and candidates."""
        return dict(self.definition.get("automl") or {})

    def _finished(self) -> None:
        status = self.get_status()
        if status != "Completed":
            detail = ((self._refresh().get("error") or {}).get("message") or "")
            raise RunError(f"AutoML run {self.id} is {status}"
                           + (f": {detail}" if detail else "")
                           + ("; wait with run.wait_for_completion()" if status not in
                              ("Failed", "Canceled") else "") + ".")

    def _document(self, name: str) -> Any:
        self._finished()
        with tempfile.TemporaryDirectory() as tmp:
            path = self.download_file(f"outputs/{name}", Path(tmp) / name)
            return json.loads(path.read_text())

    def get_leaderboard(self) -> list[dict[str, Any]]:
        """Every trial (and the ensemble), best first: rank, run_id, model, score, status,
        hyperparameters, early_termination."""
        return list(self._document("leaderboard.json"))

    def get_guardrails(self) -> list[dict[str, Any]]:
        """The data checks made at submission (available while it runs)."""
        return list(self.settings.get("guardrails") or [])

    def get_featurization_summary(self) -> list[dict[str, Any]]:
        """Per input column: its kind, what was done to it, or why it was dropped."""
        return list(self.settings.get("plan") or [])

    def get_feature_importance(self) -> dict[str, float]:
        """Permutation importance of each raw column for the best model, largest first."""
        return dict(self._document("feature_importance.json"))

    def get_output(self, metric: str | None = None) -> tuple[Run, Any]:
        """``(best_run, fitted_model)``: the ensemble or best trial and its model (which
        takes raw rows: ``model.predict(frame)``). With ``metric``, the trial best by that
        logged metric instead."""
        self._finished()
        run_id = self._best_id(metric)
        run = Run._get(self.workspace, run_id)
        with tempfile.TemporaryDirectory() as tmp:
            path = run.download_file("outputs/model.pkl", Path(tmp) / "model.pkl")
            with open(path, "rb") as fh:
                model = pickle.load(fh)
        return run, model

    def _best_id(self, metric: str | None) -> str:
        props = self.get_properties()
        if metric is None:
            best = props.get("automl_best_run_id")
            if not best:
                raise AutoMLError(f"AutoML run {self.id} recorded no best run.")
            return str(best)
        from ._metrics import METRICS

        if metric not in METRICS:
            task = self.settings.get("task")
            raise AutoMLError(f"Unknown metric {metric!r}; trials log "
                              f"{sorted(n for n, m in METRICS.items() if task in m.tasks)}.")
        maximize = METRICS[metric].goal == "maximize"
        values = {run_id: m.get(metric) for run_id, m in self.get_metrics().items()
                  if isinstance(m.get(metric), (int, float))}
        if not values:
            raise AutoMLError(f"no trial logged {metric!r}.")
        return max(values, key=lambda k: values[k] if maximize else -values[k])

    def register_model(self, model_name: str, model_path: str = "outputs/model.pkl",
                       **kwargs: Any) -> Any:
        """Register the best model (the AutoML run keeps a copy of it and its generated
        ``score.py``)."""
        self._finished()
        return super().register_model(model_name, model_path, **kwargs)

    def get_scoring_script(self, destination: str = "score.py") -> Path:
        """Download the generated scoring script (for ``InferenceConfig(entry_script=...)``)."""
        self._finished()
        return self.download_file("outputs/score.py", destination)
