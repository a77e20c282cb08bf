"""``azureml.data``: OutputFileDatasetConfig and the data-reference names SDK code imports."""

from cumulus.azureml.core.dataset import DatasetConsumptionConfig
from cumulus.azureml.pipeline.core._data import OutputFileDatasetConfig

__all__ = ["DatasetConsumptionConfig", "OutputFileDatasetConfig"]
