"""Model registry, scoring services and container images.

Example::

    from cumulus.models import Model, InferenceConfig, LocalWebservice
    model = Model.register(ws, model_path="outputs/model.pkl", model_name="digits")
    svc = Model.deploy(ws, "digits-svc", [model],
                       InferenceConfig(entry_script="score.py", source_directory="src"),
                       LocalWebservice.deploy_configuration(port=None, auth_enabled=True))
    svc.wait_for_deployment(show_output=True)
    svc.run({"data": [[0.0] * 64]})

Names are imported lazily: the scoring server (``cumulus.models.server``) imports this package
and must not pay for the registry's SQLAlchemy imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cumulus._lazy import lazy_exports

_EXPORTS = {
    "Model": "cumulus.models._registry",
    "ModelInUseError": "cumulus.models._registry",
    "InferenceConfig": "cumulus.models._config",
    "DeploymentConfig": "cumulus.models._config",
    "LocalDeploymentConfig": "cumulus.models._config",
    "DockerDeploymentConfig": "cumulus.models._config",
    "Webservice": "cumulus.models._service",
    "LocalWebservice": "cumulus.models._service",
    "DockerWebservice": "cumulus.models._service",
    "ServiceRequestError": "cumulus.models._service",
    "deploy_from_run": "cumulus.models._service",
    "ModelPackage": "cumulus.models._image",
}

__all__ = ["DeploymentConfig", "DockerDeploymentConfig", "DockerWebservice", "InferenceConfig",
           "LocalDeploymentConfig", "LocalWebservice", "Model", "ModelInUseError",
           "ModelPackage", "ServiceRequestError", "Webservice", "deploy_from_run"]

if TYPE_CHECKING:
    from cumulus.models._config import (
        DeploymentConfig,
        DockerDeploymentConfig,
        InferenceConfig,
        LocalDeploymentConfig,
    )
    from cumulus.models._image import ModelPackage
    from cumulus.models._registry import Model, ModelInUseError
    from cumulus.models._service import (
        DockerWebservice,
        LocalWebservice,
        ServiceRequestError,
        Webservice,
        deploy_from_run,
    )

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
