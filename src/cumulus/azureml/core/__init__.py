"""``azureml.core``: the names SDK v1 code imports from ``azureml.core``, over Cumulus.

Names load on first use, so that a training script's ``from azureml.core import Run`` (after
``cumulus migrate``) costs what ``from cumulus import Run`` costs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cumulus import __version__ as VERSION
from cumulus._lazy import lazy_exports

__version__ = VERSION

_EXPORTS = {
    "ComputeTarget": "cumulus.azureml.core.compute",
    "CondaDependencies": "cumulus.azureml.core.conda_dependencies",
    "Dataset": "cumulus.azureml.core.dataset",
    "Datastore": "cumulus.azureml.core.datastore",
    "Environment": "cumulus.azureml.core.environment",
    "Experiment": "cumulus.azureml.core.experiment",
    "Model": "cumulus.azureml.core.model",
    "Run": "cumulus.azureml.core.run",
    "RunConfiguration": "cumulus.azureml.core.runconfig",
    "ScriptRunConfig": "cumulus.azureml.core.script_run_config",
    "Workspace": "cumulus.azureml.core.workspace",
}

__all__ = ["VERSION", "ComputeTarget", "CondaDependencies", "Dataset", "Datastore",
           "Environment", "Experiment", "Model", "Run", "RunConfiguration", "ScriptRunConfig",
           "Workspace"]

if TYPE_CHECKING:
    from cumulus.azureml.core.compute import ComputeTarget
    from cumulus.azureml.core.conda_dependencies import CondaDependencies
    from cumulus.azureml.core.dataset import Dataset
    from cumulus.azureml.core.datastore import Datastore
    from cumulus.azureml.core.environment import Environment
    from cumulus.azureml.core.experiment import Experiment
    from cumulus.azureml.core.model import Model
    from cumulus.azureml.core.run import Run
    from cumulus.azureml.core.runconfig import RunConfiguration
    from cumulus.azureml.core.script_run_config import ScriptRunConfig
    from cumulus.azureml.core.workspace import Workspace

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
