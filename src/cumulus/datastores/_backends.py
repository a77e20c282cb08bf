"""Map datastore URLs onto fsspec filesystems; credentials come from env vars, not the store."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from cumulus.errors import DatastoreError, MissingDependencyError, ValidationError

if TYPE_CHECKING:
    import fsspec

    from cumulus.datastores._datastore import Datastore

# protocol -> (package, extra) for backends that are not installed by default
INSTALL_HINTS = {
    "az": ("adlfs", "azure"), "abfs": ("adlfs", "azure"), "abfss": ("adlfs", "azure"),
    "s3": ("s3fs", "s3"), "gs": ("gcsfs", None), "gcs": ("gcsfs", None),
}


def protocol_of(url: str) -> str:
    scheme = urlparse(url).scheme
    return scheme if scheme and len(scheme) > 1 else "file"


def root_path(url: str) -> str:
    import fsspec.core

    proto = protocol_of(url)
    if proto == "file":
        return urlparse(url).path if url.startswith("file:") else os.path.abspath(url)
    cls = fsspec.get_filesystem_class(proto)
    return str(cls._strip_protocol(url)).rstrip("/")


def validate_definition(name: str, url: str, **definition: Any) -> dict[str, Any]:
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        raise ValidationError(f"Datastore name {name!r} is invalid: use letters, digits, "
                              "'-' or '_'.")
    _filesystem_class(url)
    return {k: v for k, v in definition.items() if v not in (None, {})}


def _filesystem_class(url: str) -> type:
    import fsspec
    from fsspec.registry import known_implementations

    proto = protocol_of(url)
    if proto not in known_implementations and proto not in fsspec.registry.registry:
        from cumulus.errors import did_you_mean

        raise ValidationError(f"Unknown datastore protocol {proto!r} in {url!r}."
                              + did_you_mean(proto, list(known_implementations)))
    try:
        return fsspec.get_filesystem_class(proto)
    except ImportError:
        package, extra = INSTALL_HINTS.get(proto, (proto + "fs", None))
        raise MissingDependencyError(f"Datastore protocol {proto!r}", package, extra) from None


def storage_options(ds: Datastore) -> dict[str, Any]:
    opts = dict(ds.definition.get("storage_options") or {})
    env = ds.definition.get("credential_env")
    if env:
        secret = os.environ.get(env)
        if not secret:
            raise DatastoreError(
                f"Datastore {ds.name!r} takes its credential from the environment variable "
                f"{env!r}, which is not set. Set it before using the datastore.")
        if protocol_of(ds.url) in ("az", "abfs", "abfss"):
            if "AccountKey=" in secret or "SharedAccessSignature=" in secret or \
                    "BlobEndpoint=" in secret:
                opts["connection_string"] = secret
            elif ds.definition.get("account_name") and secret.startswith("?") or "sig=" in secret:
                opts["sas_token"] = secret
            else:
                opts["account_key"] = secret
        else:
            opts["token"] = secret
    if ds.definition.get("account_name"):
        opts.setdefault("account_name", ds.definition["account_name"])
    return opts


def open_filesystem(ds: Datastore) -> fsspec.AbstractFileSystem:
    cls = _filesystem_class(ds.url)
    opts = storage_options(ds)
    if protocol_of(ds.url) == "file":
        os.makedirs(root_path(ds.url), exist_ok=True)
        opts.setdefault("auto_mkdir", True)
    return cls(**opts)


def check_access(ds: Datastore) -> None:
    try:
        fs = ds.fs
        root = ds.root
        if protocol_of(ds.url) == "file":
            return
        fs.ls(root.split("/")[0] if "/" in root else root, detail=False)
    except MissingDependencyError:
        raise
    except Exception as exc:  # the backend's own error types vary
        raise DatastoreError(
            f"Cannot access datastore {ds.name!r} at {ds.url!r}: {type(exc).__name__}: "
            f"{_first_line(exc)}. Check the credential (env var "
            f"{ds.definition.get('credential_env')!r}) and that the container or bucket exists, "
            "or pass skip_validation=True.") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else ""
