"""Credential providers: how a datastore gets its secret, by reference only.

A datastore's definition stores the provider's *name* and, where it needs one, the *name* of an
environment variable. The value is read where the filesystem is opened (the client, or a node),
so it never enters the store, logs or argument lists. Nodes must have the variable set: compute
processes inherit the environment of the process that started them.

Example::

    Datastore.register(ws, "blob", "az://data", credential_env="AZURE_STORAGE_CONNECTION_STRING")
    Datastore.register(ws, "lake", "az://data", credential="default", account_name="myaccount")
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, ClassVar

from cumulus.errors import DatastoreError, MissingDependencyError, ValidationError, did_you_mean

AZURE_PROTOCOLS = ("az", "abfs", "abfss")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# storage option keys that hold secrets: refused at registration, use credential_env instead
SECRET_KEYS = frozenset({
    "account_key", "connection_string", "sas_token", "credential", "client_secret", "password",
    "secret", "key", "token", "secret_access_key", "aws_secret_access_key", "session_token",
    "aws_session_token", "access_token", "refresh_token", "private_key", "passphrase",
})


class CredentialProvider:
    """Turns a credential reference into fsspec storage options at use time.

    Subclasses set ``name`` (the registry key), ``needs_env`` and ``protocols`` and implement
    :meth:`options`.
    """

    name: ClassVar[str] = ""
    needs_env: ClassVar[bool] = True
    needs_account: ClassVar[bool] = False
    protocols: ClassVar[tuple[str, ...] | None] = None  # None: any protocol

    def __init__(self, datastore: str, env: str | None) -> None:
        self.datastore = datastore
        self.env = env

    def secret(self) -> str:
        """The value of the environment variable, read now; a clear error when unset."""
        assert self.env is not None
        value = os.environ.get(self.env)
        if not value:
            raise DatastoreError(
                f"Datastore {self.datastore!r} takes its credential from the environment variable "
                f"{self.env!r}, which is not set in this process. Set it here (and on every "
                "compute node, which inherits the environment of the process that started it).")
        return value

    def options(self, protocol: str) -> dict[str, Any]:
        raise NotImplementedError

    def describe(self) -> str:
        return f"{self.name} from ${self.env}" if self.env else self.name


class ConnectionString(CredentialProvider):
    name = "connection_string"
    protocols = AZURE_PROTOCOLS

    def options(self, protocol: str) -> dict[str, Any]:
        return {"connection_string": self.secret()}


class AccountKey(CredentialProvider):
    name = "account_key"
    needs_account = True
    protocols = AZURE_PROTOCOLS

    def options(self, protocol: str) -> dict[str, Any]:
        return {"account_key": self.secret()}


class SasToken(CredentialProvider):
    name = "sas_token"
    needs_account = True
    protocols = AZURE_PROTOCOLS

    def options(self, protocol: str) -> dict[str, Any]:
        return {"sas_token": self.secret()}


class DefaultAzure(CredentialProvider):
    """``azure.identity.DefaultAzureCredential``: managed identity, workload identity, CLI."""

    name = "default"
    needs_env = False
    needs_account = True
    protocols = AZURE_PROTOCOLS

    def options(self, protocol: str) -> dict[str, Any]:
        try:
            from azure.identity.aio import DefaultAzureCredential
        except ImportError:
            raise MissingDependencyError("credential='default'", "azure-identity",
                                         "azure") from None
        return {"credential": DefaultAzureCredential()}


class Anonymous(CredentialProvider):
    name = "anonymous"
    needs_env = False

    def options(self, protocol: str) -> dict[str, Any]:
        return {"anon": True}


class JsonOptions(CredentialProvider):
    """The variable holds a JSON object of storage options (e.g. an S3 key and secret)."""

    name = "json"

    def options(self, protocol: str) -> dict[str, Any]:
        try:
            value = json.loads(self.secret())
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            raise DatastoreError(f"Environment variable {self.env!r} of datastore "
                                 f"{self.datastore!r} must hold a JSON object of storage "
                                 "options, e.g. '{\"key\": ..., \"secret\": ...}'.")
        return value


class Auto(CredentialProvider):
    """Recognises the value: an Azure connection string, SAS token or key, JSON, or a token."""

    name = "auto"

    def options(self, protocol: str) -> dict[str, Any]:
        value = self.secret()
        if value.lstrip().startswith("{"):
            return JsonOptions(self.datastore, self.env).options(protocol)
        if protocol not in AZURE_PROTOCOLS:
            return {"token": value}
        if any(k in value for k in ("AccountKey=", "SharedAccessSignature=", "BlobEndpoint=",
                                    "AccountName=")):
            return {"connection_string": value}
        if value.startswith("?") or "sig=" in value:
            return {"sas_token": value}
        return {"account_key": value}


PROVIDERS: dict[str, type[CredentialProvider]] = {
    cls.name: cls for cls in (Auto, ConnectionString, AccountKey, SasToken, DefaultAzure,
                              Anonymous, JsonOptions)
}


def provider_for(datastore: str, definition: dict[str, Any]) -> CredentialProvider | None:
    """The provider a stored definition names, or None (the backend's own defaults)."""
    kind = definition.get("credential")
    env = definition.get("credential_env")
    if kind is None and env is None:
        return None
    return PROVIDERS[kind or "auto"](datastore, env)


def validate_credential(name: str, protocol: str, *, credential: str | None,
                        credential_env: str | None, account_name: str | None) -> None:
    """Check a credential reference at registration; never echoes a value."""
    if credential_env is not None and not ENV_NAME.match(credential_env):
        raise ValidationError(
            f"credential_env of datastore {name!r} must be the NAME of an environment variable "
            f"(letters, digits and '_', e.g. 'AZURE_STORAGE_CONNECTION_STRING'), not its value; "
            f"got a string of {len(credential_env)} characters that is not a variable name. "
            "Secrets are referenced, never stored.")
    if credential is None:
        return
    cls = PROVIDERS.get(credential)
    if cls is None:
        raise ValidationError(f"credential {credential!r} of datastore {name!r} is unknown. "
                              f"Allowed: {', '.join(sorted(PROVIDERS))}."
                              + did_you_mean(credential, PROVIDERS))
    if cls.protocols is not None and protocol not in cls.protocols:
        raise ValidationError(f"credential {credential!r} works with {', '.join(cls.protocols)} "
                              f"datastores, not {protocol!r}. Use credential='json' with "
                              "credential_env naming a variable that holds storage options.")
    if cls.needs_env and not credential_env:
        raise ValidationError(f"credential {credential!r} of datastore {name!r} reads its "
                              "secret from an environment variable: pass credential_env='NAME'.")
    if cls.needs_account and not account_name:
        raise ValidationError(f"credential {credential!r} of datastore {name!r} needs "
                              "account_name='<storage account>'.")


def check_no_secrets(name: str, storage_options: dict[str, Any]) -> None:
    """Refuse storage options that carry secrets; names the key, never the value."""
    for key in storage_options:
        if str(key).lower() in SECRET_KEYS:
            raise ValidationError(
                f"storage_options[{key!r}] of datastore {name!r} holds a secret, and secrets are "
                "never stored. Put it in an environment variable and pass "
                "credential_env='VARIABLE' (with credential='json' for several options).")


def redact(text: str, secrets: list[str]) -> str:
    """``text`` with every secret value and Azure key-looking fragment masked."""
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "***")
    return re.sub(r"(AccountKey|SharedAccessSignature|sig)=([^;&\s]+)", r"\1=***", text)
