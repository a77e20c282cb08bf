"""``azureml.train.automl.run``: the AutoML run (``AutoMLRun``)."""

from __future__ import annotations

from cumulus.automl import AutoMLRun

__all__ = ["AutoMLRun"]
