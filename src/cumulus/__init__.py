"""Cumulus: a self-hosted ML workflow framework.

Workspaces, autoscaling Dask compute targets, fsspec datastores, experiments and runs,
hyperparameter sweeps, Prefect pipelines, a model registry and scoring services.

Names are imported lazily so that ``from cumulus import Run`` inside a training script costs
almost nothing and needs only the standard library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cumulus._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "Workspace": "cumulus.workspace",
    "Experiment": "cumulus.experiment",
    "Run": "cumulus.run",
    "ScriptRunConfig": "cumulus.runconfig",
    "Environment": "cumulus.environment",
    "ComputeTarget": "cumulus.compute",
    "ClusterConfig": "cumulus.compute",
    "NodeSpec": "cumulus.compute",
    "Datastore": "cumulus.datastores",
    "DataPath": "cumulus.datastores",
    "Model": "cumulus.models",
    "InferenceConfig": "cumulus.models",
    "LocalWebservice": "cumulus.models",
    "Webservice": "cumulus.models",
    "PyTorchDistribution": "cumulus.distribution",
    "TensorflowDistribution": "cumulus.distribution",
    "MpiDistribution": "cumulus.distribution",
    "RunStatus": "cumulus.store.status",
    "CumulusError": "cumulus.errors",
}

__all__ = [
    "ClusterConfig", "ComputeTarget", "CumulusError", "DataPath", "Datastore", "Environment",
    "Experiment", "InferenceConfig", "LocalWebservice", "Model", "MpiDistribution", "NodeSpec",
    "PyTorchDistribution", "Run", "RunStatus", "ScriptRunConfig", "TensorflowDistribution",
    "Webservice", "Workspace", "__version__",
]

if TYPE_CHECKING:
    from cumulus.compute import ClusterConfig, ComputeTarget, NodeSpec
    from cumulus.datastores import DataPath, Datastore
    from cumulus.environment import Environment
    from cumulus.errors import CumulusError
    from cumulus.experiment import Experiment
    from cumulus.run import Run
    from cumulus.runconfig import ScriptRunConfig
    from cumulus.store.status import RunStatus
    from cumulus.workspace import Workspace

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
