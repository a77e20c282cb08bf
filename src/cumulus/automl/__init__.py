"""Automated ML: the best model for a table, found by a sweep over model families.

Names follow Azure ML's automated ML (``azureml.train.automl``)::

    from cumulus.automl import AutoMLConfig
    automl = AutoMLConfig(task="classification", training_data=df, label_column_name="y",
                          primary_metric="AUC_weighted", experiment_timeout_minutes=10)
    run = exp.submit(automl)
    run.wait_for_completion(show_output=True)
    best_run, model = run.get_output()

Each trial is a script run (featurization + one model, cross-validated) on the compute
target; the search is a sweep (TPE across families, defaults first, median early stopping
fold by fold); the run ends with a soft-voting ensemble of the best trials.
"""

from __future__ import annotations

from ._config import AutoMLConfig
from ._data import ColumnPlan, Guardrail, analyze, load_frame
from ._ensemble import AutoMLModel, select_ensemble
from ._metrics import METRICS, TASKS, Metric
from ._models import MODELS, ModelSpec
from ._run import AutoMLRun

__all__ = [
    "METRICS",
    "MODELS",
    "TASKS",
    "AutoMLConfig",
    "AutoMLModel",
    "AutoMLRun",
    "ColumnPlan",
    "Guardrail",
    "Metric",
    "ModelSpec",
    "analyze",
    "load_frame",
    "select_ensemble",
]
