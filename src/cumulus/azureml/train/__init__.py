"""``azureml.train``: HyperDrive sweeps and the estimator classes."""
