"""``azureml.core.datastore``: Datastore over Cumulus's fsspec datastores.

``Datastore(ws, name)`` / ``Datastore.get(ws, name)`` return Cumulus datastores, whose
``upload``, ``upload_files``, ``download`` and ``path`` match the SDK's. Registering Azure
Blob with a literal key or SAS token keeps Cumulus's rule that secrets are stored by
reference only: the key must come from an environment variable (as SDK code usually reads it,
``account_key=os.environ[...]``), and the datastore records that variable's name.
"""

from __future__ import annotations

import os
from typing import Any

from cumulus.azureml._compat import azure_only
from cumulus.datastores import Datastore as _Native
from cumulus.errors import DatastoreError


class Datastore:
    """``Datastore(ws, name)`` gives the registered (Cumulus) datastore; None: the default."""

    def __new__(cls, workspace: Any, name: str | None = None) -> _Native:  # type: ignore[misc]
        return Datastore.get(workspace, name) if name else workspace.get_default_datastore()

    @staticmethod
    def get(workspace: Any, datastore_name: str) -> _Native:
        return _Native.get(workspace, datastore_name)

    @staticmethod
    def get_default(workspace: Any) -> _Native:
        return workspace.get_default_datastore()

    @staticmethod
    def list(workspace: Any) -> list[_Native]:
        return list(_Native.list(workspace).values())

    @staticmethod
    def register_azure_blob_container(
            workspace: Any, datastore_name: str, container_name: str, account_name: str,
            sas_token: str | None = None, account_key: str | None = None,
            protocol: str | None = None, endpoint: str | None = None, overwrite: bool = False,
            create_if_not_exists: bool = False, skip_validation: bool = False,
            blob_cache_timeout: Any = None, grant_workspace_access: bool = False,
            subscription_id: Any = None, resource_group: Any = None) -> _Native:
        for key, value in (("protocol", protocol), ("endpoint", endpoint),
                           ("subscription_id", subscription_id),
                           ("resource_group", resource_group)):
            azure_only(key, value, "the account's endpoint comes from the credential")
        secret = account_key or sas_token
        credential, env = "default", None
        if secret:
            env = _env_holding(secret)
            credential = "auto"
        url = f"az://{container_name}"
        if create_if_not_exists:
            _create_container(url, account_name, env)
        return _Native.register(workspace, datastore_name, url, credential=credential,
                                credential_env=env, account_name=account_name,
                                skip_validation=skip_validation)

    @staticmethod
    def register_azure_file_share(*_: Any, **__: Any) -> Any:
        from cumulus.azureml._compat import unsupported

        unsupported("Datastore.register_azure_file_share",
                    "Register the share's files as a folder or blob container instead: "
                    "cumulus.Datastore.register(ws, name, 'file:///path' or 'az://container').")


def _env_holding(secret: str) -> str:
    """The environment variable that holds ``secret`` (a connection string holding it is
    preferred: it also names the endpoint)."""
    exact = [k for k, v in os.environ.items() if v == secret]
    within = [k for k, v in os.environ.items() if v != secret and secret in v
              and ("AccountKey=" in v or "SharedAccessSignature=" in v)]
    found = within or exact
    if not found:
        raise DatastoreError(
            "register_azure_blob_container got a key or SAS token that is not in any "
            "environment variable. Cumulus stores secrets by reference only: put it in one "
            "(e.g. export AZURE_STORAGE_KEY=... or AZURE_STORAGE_CONNECTION_STRING=...) and "
            "pass account_key=os.environ['AZURE_STORAGE_KEY'].")
    return sorted(found)[0]


def _create_container(url: str, account_name: str, env: str | None) -> None:
    import fsspec

    from cumulus.datastores._credentials import Auto

    options = Auto("new", env).options("az") if env else {}
    fs = fsspec.filesystem("az", account_name=account_name, **options)
    container = url.split("://", 1)[1].split("/", 1)[0]
    if not fs.exists(container):
        fs.mkdir(container)


__all__ = ["Datastore"]
