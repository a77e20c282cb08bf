"""Data on datastores as the pipeline engine sees it: fingerprints, output paths, existence.

Everything goes through the public datastore API (``Datastore.get``, ``ds.fs``,
``ds.full_path``, ``DataPath``), so any fsspec backend works.

Example::

    ident, fp = data_fingerprint(ws, ds.path("raw/data.csv").to_dict())
    out = output_datapath(ws, spec, "workspacestore", pipeline="train",
                          pipeline_run_id=rid, step="prep", output="clean")
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, Any

from cumulus.flows._io import render_path
from cumulus.flows._reuse import fingerprint

INTERNAL_PREFIX = ".cumulus-"  # the datastore's own markers (manifest, staging, commit flag)

if TYPE_CHECKING:
    from cumulus.datastores import DataPath, Datastore
    from cumulus.flows._graph import OutputSpec
    from cumulus.workspace import Workspace


def list_entries(ds: Datastore, path: str) -> list[tuple[str, dict[str, Any]]]:
    """(path relative to ``path``, fsspec info) of every file at or under ``path``."""
    fs = ds.fs
    full = ds.full_path(path)
    if not fs.exists(full):
        return []
    info = fs.info(full)
    if info.get("type") != "directory":
        return [("", info)]
    root = full.rstrip("/") + "/"
    found = fs.find(full, detail=True)
    out = []
    for name, item in found.items():
        rel = name[len(root):] if name.startswith(root) else posixpath.basename(name)
        if not any(part.startswith(INTERNAL_PREFIX) for part in rel.split("/")):
            out.append((rel, item))
    return out


def data_fingerprint(ws: Workspace, datapath: dict[str, Any]) -> dict[str, Any]:
    """Content fingerprint of a data path's files: per file, what its backend says of its
    bytes (SHA-256 of a local file), else ETag / MD5 / size+mtime."""
    from cumulus.datastores import Datastore
    from cumulus.datastores._backends import CONTENT_HASH_LIMIT

    ds = Datastore.get(ws, datapath["datastore"])
    entries = list_entries(ds, datapath["path_on_datastore"])
    if sum(int(info.get("size") or 0) for _, info in entries) > CONTENT_HASH_LIMIT:
        return fingerprint(entries)      # too much to read at every change: the listing's
    marked = []                          # markers
    for rel, info in entries:
        marker = ds.backend.content_marker(str(info.get("name") or ""), info)
        marked.append((rel, {**info, "content": marker} if marker else info))
    return fingerprint(marked)


def data_identity(datapath: dict[str, Any]) -> str:
    return f"{datapath['datastore']}:{datapath['path_on_datastore']}"


def output_datapath(ws: Workspace, spec: OutputSpec, default_datastore: str,
                    **fields: Any) -> DataPath:
    """Where one step output goes for one pipeline run, as an upload DataPath."""
    from cumulus.datastores import DataPath, Datastore, check_relative

    name = spec.datastore or default_datastore
    if spec.datastore:
        Datastore.get(ws, name)  # still registered?
    path = check_relative(render_path(spec.path, **fields))
    return DataPath(name, path).named(fields["output"]).as_upload()


def missing_outputs(ws: Workspace, outputs: dict[str, dict[str, Any]]) -> list[str]:
    """Names of outputs (name -> DataPath dict) with no file on their datastore."""
    from cumulus.datastores import Datastore

    missing = []
    for name, dp in outputs.items():
        ds = Datastore.get(ws, dp["datastore"])
        if not list_entries(ds, dp["path_on_datastore"]):
            missing.append(name)
    return missing


def exists(ws: Workspace, datapath: dict[str, Any]) -> bool:
    from cumulus.datastores import Datastore

    ds = Datastore.get(ws, datapath["datastore"])
    return bool(ds.fs.exists(ds.full_path(datapath["path_on_datastore"])))
