"""``azureml.core.webservice``: Webservice and LocalWebservice over Cumulus scoring services.

``LocalWebservice`` is a local process, as in the SDK (no key, loopback only). ``AciWebservice``
becomes the same local service, reported once; ``AksWebservice`` has no local meaning and
raises naming the alternative.
"""

from __future__ import annotations

from typing import Any

from cumulus.azureml._compat import azure_only, unsupported
from cumulus.models import LocalWebservice as _NativeLocal
from cumulus.models import Webservice as _NativeService


class Webservice(_NativeService):
    """``Webservice(ws, name)``: an existing service (Cumulus's own service object)."""

    def __new__(cls, workspace: Any, name: str) -> _NativeService:  # type: ignore[misc]
        return _NativeService(workspace, name)

    @staticmethod
    def list(workspace: Any, compute_type: str | None = None,  # type: ignore[override]
             image_name: str | None = None, model_name: str | None = None, **_: Any,
             ) -> list[_NativeService]:
        return _NativeService.list(workspace, model_name=model_name)


class LocalWebservice(Webservice):
    @staticmethod
    def deploy_configuration(port: int | None = None) -> Any:
        """A local service on ``port`` (a free one if None); without keys, as in the SDK."""
        return _NativeLocal.deploy_configuration(port=port, auth_enabled=False)


class AciWebservice(Webservice):
    @staticmethod
    def deploy_configuration(cpu_cores: float | None = None, memory_gb: float | None = None,
                             tags: Any = None, properties: Any = None,
                             description: str | None = None, location: str | None = None,
                             auth_enabled: bool = False, ssl_enabled: bool = False,
                             enable_app_insights: bool = False, **azure: Any) -> Any:
        azure_only("AciWebservice", "deploy_configuration", "deployed as a local scoring "
                   "service on this machine (127.0.0.1); package it as a Docker image with "
                   "Model.package to run it elsewhere")
        return _NativeLocal.deploy_configuration(auth_enabled=auth_enabled)


class AksWebservice(Webservice):
    @staticmethod
    def deploy_configuration(**_: Any) -> Any:
        unsupported("AksWebservice.deploy_configuration",
                    "Deploy with LocalWebservice.deploy_configuration(port=...) for a local "
                    "service, or Model.package(ws, [model], inference_config) for a Docker image "
                    "to run on your own Kubernetes.")


__all__ = ["AciWebservice", "AksWebservice", "LocalWebservice", "Webservice"]
