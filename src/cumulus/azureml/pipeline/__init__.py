"""``azureml.pipeline``: pipelines of steps, over Cumulus pipelines (Prefect flows)."""
