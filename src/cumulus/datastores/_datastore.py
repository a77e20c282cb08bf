"""Datastore: a named fsspec location (local folder, Azure Blob, S3, memory, ...).

Example::

    blob = Datastore.register(ws, "blob", "az://data/cumulus",
                              credential_env="AZURE_STORAGE_CONNECTION_STRING")
    blob.upload(src_dir="data", target_path="mnist", overwrite=False, show_progress=True)
    blob.download(target_path="local", prefix="mnist")
    p = blob.path("mnist").as_download()       # a run input, copied to the node
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cumulus.errors import DatastoreError, DatastoreNotFoundError, ValidationError

if TYPE_CHECKING:
    import fsspec

    from cumulus.datastores._backends import Backend, FileStat
    from cumulus.datastores._datapath import DataPath
    from cumulus.datastores._transfer import TransferResult
    from cumulus.workspace import Workspace

DEFINITION_KEYS = ("credential", "credential_env", "account_name", "storage_options")


class Datastore:
    """A named fsspec URL registered in a workspace; secrets are referenced, never stored.

    The definition holds the credential provider's name and the *name* of the environment
    variable with the secret; the value is read where the filesystem is opened.
    """

    def __init__(self, ws: Workspace | None, name: str, url: str,
                 definition: dict[str, Any] | None = None) -> None:
        self.workspace = ws
        self.name = name
        self.url = url
        self.definition = dict(definition or {})

    # registry ----------------------------------------------------------------------------
    @classmethod
    def register(cls, ws: Workspace, name: str, url: str, *, credential: str | None = None,
                 credential_env: str | None = None, account_name: str | None = None,
                 storage_options: dict[str, Any] | None = None, skip_validation: bool = False,
                 set_default: bool = False) -> Datastore:
        """Register (or re-register) ``url`` as ``name``; checks access unless skipped.

        ``credential`` names a provider (``auto``, ``connection_string``, ``account_key``,
        ``sas_token``, ``default`` for DefaultAzureCredential, ``anonymous``, ``json``);
        ``credential_env`` names the environment variable holding the secret.
        """
        from cumulus.datastores._backends import backend_for, check_url
        from cumulus.datastores._credentials import check_no_secrets, validate_credential

        _check_name(name)
        check_url(name, url)
        backend = backend_for(url)
        backend.filesystem_class()  # a missing package fails here, with the install hint
        storage_options = dict(storage_options or {})
        check_no_secrets(name, storage_options)
        validate_credential(name, backend.protocol, credential=credential,
                            credential_env=credential_env,
                            account_name=account_name or backend.url_options().get(
                                "account_name"))
        definition = {k: v for k, v in {
            "credential": credential, "credential_env": credential_env,
            "account_name": account_name, "storage_options": storage_options}.items()
            if v not in (None, {})}
        ds = cls(ws, name, url, definition)
        ds.root  # noqa: B018 - validates the path part of the URL
        if not skip_validation:
            ds.check_access()
        ws.store.datastores.put(name, url, definition, is_default=set_default)
        ws.forget_default_datastore()  # the workspace's cached default may change
        return ds

    @classmethod
    def get(cls, ws: Workspace, name: str) -> Datastore:
        record = ws.store.datastores.get(name)
        if record is not None:
            return cls(ws, name, record["url"], record["definition"])
        builtin = _builtin(ws).get(name)
        if builtin is not None:
            return builtin
        known = sorted({*(r["name"] for r in ws.store.datastores.list()), *_builtin(ws)})
        raise DatastoreNotFoundError(name, known,
                                     hint="Register it with Datastore.register(ws, name, url).")

    @classmethod
    def list(cls, ws: Workspace) -> dict[str, Datastore]:
        out = dict(_builtin(ws))
        for r in ws.store.datastores.list():
            out[r["name"]] = cls(ws, r["name"], r["url"], r["definition"])
        return out

    @classmethod
    def get_default(cls, ws: Workspace) -> Datastore:
        name = ws.config.default_datastore
        record = ws.store.datastores.default(fallback=name)
        if record is not None:
            return cls(ws, record["name"], record["url"], record["definition"])
        builtin = _builtin(ws).get(name)
        return builtin if builtin is not None else cls.get(ws, name)

    def set_as_default(self) -> None:
        """Make this the workspace's default datastore (snapshots, outputs, logs go here)."""
        ws = self._ws()
        if ws.store.datastores.get(self.name) is None:
            ws.store.datastores.put(self.name, self.url, self.definition)
        ws.store.datastores.set_default(self.name)
        ws.forget_default_datastore()

    def unregister(self) -> None:
        """Forget this datastore (its data stays where it is)."""
        ws = self._ws()
        if ws.store.datastores.get(self.name) is None:
            if self.name in _builtin(ws):
                raise DatastoreError(f"Datastore {self.name!r} is built in or declared in "
                                     "cumulus.yaml; remove it from cumulus.yaml instead.")
            raise DatastoreNotFoundError(self.name, list(Datastore.list(ws)))
        if Datastore.get_default(ws).name == self.name:
            raise DatastoreError(f"Datastore {self.name!r} is the workspace's default; make "
                                 "another one the default first (set_as_default()).")
        ws.store.datastores.delete(self.name)
        ws.forget_default_datastore()

    # filesystem --------------------------------------------------------------------------
    @cached_property
    def backend(self) -> Backend:
        from cumulus.datastores._backends import backend_for

        return backend_for(self.url)

    @cached_property
    def fs(self) -> fsspec.AbstractFileSystem:
        try:
            return self.backend.open(self.storage_options())
        except (DatastoreError, ValidationError, ImportError):
            raise
        except Exception as exc:  # the backend's own error types vary
            raise DatastoreError(f"Cannot open datastore {self.name!r}: "
                                 f"{self.redact(self.backend.describe_error(exc))}") from None

    @cached_property
    def root(self) -> str:
        return self.backend.root()

    def storage_options(self) -> dict[str, Any]:
        """fsspec storage options, with the secret read from its environment variable now."""
        from cumulus.datastores._credentials import provider_for

        opts = dict(self.definition.get("storage_options") or {})
        if self.definition.get("account_name"):
            opts["account_name"] = self.definition["account_name"]
        provider = provider_for(self.name, self.definition)
        if provider is not None:
            opts.update(provider.options(self.backend.protocol))
        return opts

    def storage_options_public(self) -> dict[str, Any]:
        """The storage options that are not secrets (safe to pass to a script or print)."""
        opts = {**self.backend.url_options(), **(self.definition.get("storage_options") or {})}
        if self.definition.get("account_name"):
            opts["account_name"] = self.definition["account_name"]
        return opts

    def check_access(self) -> None:
        """Raise DatastoreError naming the problem (credential, container) unless usable."""
        try:
            self.backend.check_access(self.fs, self.root)
        except DatastoreError as exc:
            raise DatastoreError(self.redact(str(exc))) from None
        except Exception as exc:
            raise DatastoreError(
                f"Cannot access datastore {self.name!r} at {self.url!r}: "
                f"{self.redact(self.backend.describe_error(exc))}. Check the credential "
                f"({self.credential_description()}) and that the location exists, or pass "
                "skip_validation=True.") from None

    def credential_description(self) -> str:
        from cumulus.datastores._credentials import provider_for

        provider = provider_for(self.name, self.definition)
        return provider.describe() if provider else "the backend's defaults"

    def redact(self, text: str) -> str:
        from cumulus.datastores._credentials import redact

        env = self.definition.get("credential_env")
        return redact(text, [os.environ.get(env, "")] if env else [])

    def full_path(self, path: str = "") -> str:
        """The fsspec path of ``path`` inside this datastore; rejects ``..`` and absolute paths."""
        rel = check_relative(path)
        return posixpath.join(self.root, rel) if rel else self.root

    def path(self, path_on_datastore: str = "") -> DataPath:
        """A :class:`DataPath` on this datastore, for run inputs and outputs."""
        from cumulus.datastores._datapath import DataPath

        return DataPath(self.name, check_relative(path_on_datastore))

    def exists(self, path: str) -> bool:
        return bool(self.fs.exists(self.full_path(path)))

    def list_files(self, prefix: str = "") -> dict[str, FileStat]:
        """Files under ``prefix`` by datastore-relative path, with size and ETag."""
        from cumulus.datastores._transfer import ds_rel_of, listing

        prefix = check_relative(prefix)
        return {ds_rel_of(prefix, r): s for r, s in sorted(listing(self, prefix).items())}

    # transfers ---------------------------------------------------------------------------
    def upload(self, src_dir: str | os.PathLike[str], target_path: str | None = None,
               overwrite: bool = False, show_progress: bool = True) -> TransferResult:
        """Upload a folder (or one file) to ``target_path``; existing files are skipped
        unless ``overwrite``."""
        from cumulus.datastores._transfer import upload, walk_files

        src = Path(src_dir)
        target = check_relative(target_path or "")
        if src.is_file():
            pairs = [(str(src), posixpath.join(target, src.name) if target else src.name)]
        elif src.is_dir():
            pairs = [(full, posixpath.join(target, rel) if target else rel)
                     for full, rel in walk_files(src)]
        else:
            raise ValidationError(f"src_dir {str(src_dir)!r} does not exist. Pass a folder or "
                                  "file on this machine.")
        return upload(self, pairs, overwrite=overwrite, show_progress=show_progress)

    def upload_files(self, files: Iterable[str | os.PathLike[str]],
                     relative_root: str | os.PathLike[str] | None = None,
                     target_path: str | None = None, overwrite: bool = False,
                     show_progress: bool = True) -> TransferResult:
        """Upload files; each lands at ``target_path/<path relative to relative_root>``
        (or its file name when no ``relative_root``)."""
        from cumulus.datastores._transfer import upload

        target = check_relative(target_path or "")
        base = Path(relative_root).resolve() if relative_root else None
        pairs = []
        for f in files:
            path = Path(f).resolve()
            if not path.is_file():
                raise ValidationError(f"{str(f)!r} is not a file. upload_files takes files; "
                                      "use upload(src_dir=...) for a folder.")
            if base is not None and not path.is_relative_to(base):
                raise ValidationError(f"{str(f)!r} is not under relative_root "
                                      f"{str(relative_root)!r}; pick a relative_root that "
                                      "holds every file.")
            rel = path.relative_to(base).as_posix() if base else path.name
            pairs.append((str(path), posixpath.join(target, rel) if target else rel))
        return upload(self, pairs, overwrite=overwrite, show_progress=show_progress)

    def download(self, target_path: str | os.PathLike[str], prefix: str | None = None,
                 overwrite: bool = False, show_progress: bool = True) -> TransferResult:
        """Download files under ``prefix`` into ``target_path``, keeping their datastore
        paths; existing local files are skipped unless ``overwrite``."""
        from cumulus.datastores._transfer import download

        return download(self, prefix or "", target_path, overwrite=overwrite,
                        show_progress=show_progress)

    # description -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Name, URL and definition: credential references only, never values."""
        return {"name": self.name, "url": self.url, "protocol": self.backend.protocol,
                **{k: self.definition[k] for k in DEFINITION_KEYS if k in self.definition}}

    def _ws(self) -> Workspace:
        if self.workspace is None:
            raise DatastoreError(f"Datastore {self.name!r} is not attached to a workspace.")
        return self.workspace

    def __repr__(self) -> str:
        return f"Datastore(name={self.name!r}, url={self.url!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Datastore) and (self.name, self.url, self.definition) == (
            other.name, other.url, other.definition)

    def __hash__(self) -> int:
        return hash((self.name, self.url))


def check_relative(path: str | os.PathLike[str]) -> str:
    """Normalise a datastore-relative path; ``..`` segments and absolute paths are errors."""
    p = os.fspath(path).replace("\\", "/")
    if p.startswith("/") or (len(p) > 1 and p[1] == ":") or "://" in p:
        raise ValidationError(f"Datastore path {os.fspath(path)!r} is absolute; give a path "
                              "relative to the datastore root, e.g. 'data/train.csv'.")
    parts = [x for x in p.split("/") if x not in ("", ".")]
    if ".." in parts:
        raise ValidationError(f"Datastore path {os.fspath(path)!r} contains '..'; paths must "
                              "stay inside the datastore.")
    return "/".join(parts)


def _check_name(name: str) -> None:
    if not name or not all(c.isalnum() or c in "-_" for c in name) or len(name) > 255:
        raise ValidationError(f"Datastore name {name!r} is invalid: use letters, digits, "
                              "'-' or '_' (at most 255).")


def _builtin(ws: Workspace) -> dict[str, Datastore]:
    from cumulus.config import DEFAULT_DATASTORE

    out = {DEFAULT_DATASTORE: Datastore(ws, DEFAULT_DATASTORE, ws.default_datastore_url(), {})}
    for name, spec in ws.config.datastores.items():
        out[name] = Datastore(ws, name, spec.url, spec.model_dump(exclude={"url"}))
    return out
