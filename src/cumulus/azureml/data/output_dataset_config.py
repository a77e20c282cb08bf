"""``azureml.data.output_dataset_config``."""

from cumulus.azureml.pipeline.core._data import OutputFileDatasetConfig

__all__ = ["OutputFileDatasetConfig"]
