"""Datastore: a named fsspec location (local folder, Azure Blob, S3, memory, ...).

Example::

    ds = ws.get_default_datastore()
    ds.upload(src_dir="data", target_path="mnist")
    p = ds.path("mnist").as_download()
"""

from __future__ import annotations

import posixpath
from functools import cached_property
from typing import TYPE_CHECKING, Any

from cumulus.errors import DatastoreNotFoundError, ValidationError

if TYPE_CHECKING:
    import fsspec

    from cumulus.datastores._datapath import DataPath
    from cumulus.workspace import Workspace


class Datastore:
    """A named fsspec URL registered in a workspace; secrets are referenced, never stored."""

    def __init__(self, ws: Workspace, name: str, url: str,
                 definition: dict[str, Any] | None = None) -> None:
        self.workspace = ws
        self.name = name
        self.url = url
        self.definition = dict(definition or {})

    # registry ----------------------------------------------------------------------------
    @classmethod
    def register(cls, ws: Workspace, name: str, url: str, *, credential_env: str | None = None,
                 account_name: str | None = None, storage_options: dict[str, Any] | None = None,
                 skip_validation: bool = False, set_default: bool = False) -> Datastore:
        """Register (or re-register) ``url`` under ``name`` and check access unless skipped."""
        from cumulus.datastores._backends import check_access, validate_definition

        definition = validate_definition(name, url, credential_env=credential_env,
                                         account_name=account_name,
                                         storage_options=storage_options or {})
        ds = cls(ws, name, url, definition)
        if not skip_validation:
            check_access(ds)
        ws.store.put_datastore(name, url, definition, is_default=set_default)
        return ds

    @classmethod
    def get(cls, ws: Workspace, name: str) -> Datastore:
        record = ws.store.get_datastore(name)
        if record is not None:
            return cls(ws, name, record["url"], record["definition"])
        builtin = _builtin(ws).get(name)
        if builtin is not None:
            return builtin
        known = sorted({*(r["name"] for r in ws.store.list_datastores()), *_builtin(ws)})
        raise DatastoreNotFoundError(name, known,
                                     hint="Register it with Datastore.register(ws, name, url).")

    @classmethod
    def list(cls, ws: Workspace) -> dict[str, Datastore]:
        out = dict(_builtin(ws))
        for r in ws.store.list_datastores():
            out[r["name"]] = cls(ws, r["name"], r["url"], r["definition"])
        return out

    @classmethod
    def get_default(cls, ws: Workspace) -> Datastore:
        name = ws.store.default_datastore_name() or ws.config.default_datastore
        return cls.get(ws, name)

    def set_as_default(self) -> None:
        if self.workspace.store.get_datastore(self.name) is None:
            self.workspace.store.put_datastore(self.name, self.url, self.definition)
        self.workspace.store.set_default_datastore(self.name)

    def unregister(self) -> None:
        if not self.workspace.store.delete_datastore(self.name):
            raise DatastoreNotFoundError(self.name, list(Datastore.list(self.workspace)))

    # filesystem --------------------------------------------------------------------------
    @cached_property
    def fs(self) -> fsspec.AbstractFileSystem:
        from cumulus.datastores._backends import open_filesystem

        return open_filesystem(self)

    @cached_property
    def root(self) -> str:
        from cumulus.datastores._backends import root_path

        return root_path(self.url)

    def full_path(self, path: str = "") -> str:
        """The fsspec path of ``path`` inside this datastore; rejects ``..`` and absolute paths."""
        rel = check_relative(path)
        return posixpath.join(self.root, rel) if rel else self.root

    def path(self, path_on_datastore: str = "") -> DataPath:
        from cumulus.datastores._datapath import DataPath

        check_relative(path_on_datastore)
        return DataPath(self.name, path_on_datastore.strip("/"))

    def exists(self, path: str) -> bool:
        return bool(self.fs.exists(self.full_path(path)))

    def __repr__(self) -> str:
        return f"Datastore(name={self.name!r}, url={self.url!r})"


def check_relative(path: str) -> str:
    """Normalise a datastore-relative path; ``..`` segments and absolute paths are errors."""
    p = str(path).replace("\\", "/")
    if p.startswith("/") or (len(p) > 1 and p[1] == ":"):
        raise ValidationError(f"Datastore path {path!r} is absolute; give a path relative to the "
                              "datastore root, e.g. 'data/train.csv'.")
    parts = [x for x in p.split("/") if x not in ("", ".")]
    if ".." in parts:
        raise ValidationError(f"Datastore path {path!r} contains '..'; paths must stay inside "
                              "the datastore.")
    return "/".join(parts)


def _builtin(ws: Workspace) -> dict[str, Datastore]:
    from cumulus.config import DEFAULT_DATASTORE

    out = {DEFAULT_DATASTORE: Datastore(ws, DEFAULT_DATASTORE, ws.default_datastore_url(), {})}
    for name, spec in ws.config.datastores.items():
        out[name] = Datastore(ws, name, spec.url, spec.model_dump(exclude={"url"}))
    return out
