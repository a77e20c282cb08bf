"""``azureml.train.automl``: automated ML (``AutoMLConfig``) on Cumulus.

The SDK's settings map onto :class:`cumulus.automl.AutoMLConfig`: ``iterations`` ->
``max_trials``, ``max_concurrent_iterations`` -> ``max_concurrent_trials``,
``enable_voting_ensemble`` / ``enable_stack_ensemble`` -> ``enable_ensembling``,
``experiment_timeout_hours`` as well as ``experiment_timeout_minutes``; settings that only
exist on Azure (``debug_log``, ``verbosity``, ``enable_onnx_compatible_models``,
``model_explainability``, ...) are accepted and listed on the run's settings as ignored.
"""

from __future__ import annotations

from typing import Any

from cumulus.automl import AutoMLConfig as _NativeConfig

from .run import AutoMLRun


class AutoMLConfig(_NativeConfig):
    """Azure ML SDK v1's ``AutoMLConfig`` signature over Cumulus's automated ML."""

    def __init__(self, task: str = "classification", path: Any = None, **kwargs: Any) -> None:
        voting = kwargs.pop("enable_voting_ensemble", None)
        stack = kwargs.pop("enable_stack_ensemble", None)
        if voting is not None or stack is not None:
            kwargs.setdefault("enable_ensembling", bool(voting) or bool(stack))
        if kwargs.get("featurization") not in (None, "auto", "off"):
            kwargs["featurization"] = "auto"   # a FeaturizationConfig: our own plan applies
        forecasting = kwargs.pop("forecasting_parameters", None)
        if forecasting is not None and getattr(forecasting, "time_column_name", None):
            kwargs.setdefault("time_column_name", forecasting.time_column_name)
        if "X" in kwargs or "y" in kwargs:
            from cumulus.errors import AutoMLError

            raise AutoMLError("AutoMLConfig(X=..., y=...) is the SDK's deprecated form; pass "
                              "training_data=<DataFrame or dataset> and label_column_name.")
        super().__init__(task, **kwargs)


__all__ = ["AutoMLConfig", "AutoMLRun"]
