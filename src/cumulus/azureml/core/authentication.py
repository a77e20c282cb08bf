"""``azureml.core.authentication``: accepted and reported; a local workspace needs no sign-in."""

from __future__ import annotations

from typing import Any

from cumulus.azureml._compat import azure_only


class AbstractAuthentication:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        azure_only("auth", type(self).__name__, "a Cumulus workspace needs no Azure sign-in")

    def get_authentication_header(self) -> dict[str, str]:
        """The studio's token (``CUMULUS_UI_TOKEN``) as a bearer header, which the REST
        trigger of a published pipeline needs; empty when the variable is not set."""
        import os

        token = os.environ.get("CUMULUS_UI_TOKEN")
        return {"Authorization": f"Bearer {token}"} if token else {}


class InteractiveLoginAuthentication(AbstractAuthentication): ...


class ServicePrincipalAuthentication(AbstractAuthentication): ...


class MsiAuthentication(AbstractAuthentication): ...


class AzureCliAuthentication(AbstractAuthentication): ...


__all__ = ["AzureCliAuthentication", "InteractiveLoginAuthentication", "MsiAuthentication",
           "ServicePrincipalAuthentication"]
