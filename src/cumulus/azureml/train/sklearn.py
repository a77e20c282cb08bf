"""``azureml.train.sklearn``: SKLearn, an Estimator with scikit-learn."""

from cumulus.azureml.train.estimator import Estimator


class SKLearn(Estimator):
    _framework_packages = ("scikit-learn",)


__all__ = ["SKLearn"]
