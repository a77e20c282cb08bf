"""``azureml.core``: the names SDK v1 code imports from ``azureml.core``, over Cumulus."""

from __future__ import annotations

from cumulus import __version__ as VERSION
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

__version__ = VERSION

__all__ = ["VERSION", "ComputeTarget", "CondaDependencies", "Dataset", "Datastore",
           "Environment", "Experiment", "Model", "Run", "RunConfiguration", "ScriptRunConfig",
           "Workspace"]
