"""Model content, stored once per content on a datastore and cached once per node.

A model version is a file or a folder. Its identity is the SHA-256 of its manifest (every
file's relative path, size and SHA-256); it is stored under ``models/sha256/<digest>/`` on the
default datastore with ``MANIFEST.json`` written last, so a half-uploaded copy is never used and
two versions with the same bytes share one copy.

Example::

    content = scan("outputs/model.pkl")          # Content(digest=..., files=(("model.pkl", ...),))
    location = store_content(ws, content)        # "datastore://workspacestore/models/sha256/..."
    local = cached_copy(ws, location, digest)    # a folder holding model.pkl
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cumulus._hashing import file_digest, tree_digest
from cumulus.errors import DatastoreError, ValidationError

if TYPE_CHECKING:
    from cumulus.datastores import Datastore
    from cumulus.workspace import Workspace

MANIFEST = "MANIFEST.json"
SCHEME = "datastore://"


@dataclass(frozen=True)
class Content:
    """A scanned local file or folder: (relative path, size, sha256) per file, and the digest."""

    root: Path                                  # the folder the relative paths start from
    files: tuple[tuple[str, int, str], ...]
    digest: str

    @property
    def total_bytes(self) -> int:
        return sum(f[1] for f in self.files)

    @property
    def top(self) -> str:
        """The registered name: the file or folder name every path starts with."""
        return self.files[0][0].split("/", 1)[0] if self.files else ""


def scan(path: str | os.PathLike[str]) -> Content:
    """Hash a local file or folder; paths in the manifest start with its own name."""
    src = Path(path).resolve()
    if src.is_file():
        files = [(src.name, src)]
    elif src.is_dir():
        files = sorted(((p.relative_to(src.parent).as_posix(), p)
                        for p in src.rglob("*") if p.is_file()), key=lambda x: x[0])
        if not files:
            raise ValidationError(f"model_path {str(path)!r} is an empty folder; register a "
                                  "file or a folder that holds the model files.")
    else:
        raise ValidationError(f"model_path {str(path)!r} does not exist (resolved to {src}). "
                              "Give a local file or folder, a DataPath (ds.path('...')), or "
                              "'datastore://<name>/<path>'.")
    entries = tuple((rel, p.stat().st_size, file_digest(p)) for rel, p in files)
    digest = tree_digest(entries)
    return Content(root=src.parent, files=entries, digest=digest)


def parse_location(location: str) -> tuple[str, str]:
    """``datastore://<name>/<path>`` -> (datastore name, path on it)."""
    if not location.startswith(SCHEME) or "/" not in location[len(SCHEME):]:
        raise ValidationError(f"{location!r} is not a datastore location; expected "
                              "'datastore://<datastore name>/<path>'.")
    name, _, rel = location[len(SCHEME):].partition("/")
    return name, rel


def store_content(ws: Workspace, content: Content) -> str:
    """Upload ``content`` to the default datastore unless that digest is there already."""
    ds = ws.get_default_datastore()
    prefix = f"models/sha256/{content.digest}"
    manifest = ds.full_path(f"{prefix}/{MANIFEST}")
    try:
        if not ds.fs.exists(manifest):
            for rel, _size, _digest in content.files:
                target = ds.full_path(f"{prefix}/{rel}")
                ds.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
                ds.fs.put_file(str(content.root / rel), target)
            with ds.fs.open(manifest, "w") as fh:  # written last: marks the copy complete
                fh.write(json.dumps({"digest": content.digest,
                                     "files": [list(f) for f in content.files]}))
    except OSError as exc:
        raise DatastoreError(f"Cannot store the model on datastore {ds.name!r}: {exc}") from exc
    return f"{SCHEME}{ds.name}/{prefix}"


def read_manifest(ds: Datastore, rel: str) -> list[tuple[str, int, str]]:
    with ds.fs.open(ds.full_path(f"{rel}/{MANIFEST}"), "r") as fh:
        return [tuple(f) for f in json.load(fh)["files"]]


def fetch_to(ws: Workspace, location: str, target: Path) -> list[str]:
    """Copy stored content into ``target`` (created); returns the top-level names."""
    from cumulus.datastores import Datastore

    name, rel = parse_location(location)
    ds = Datastore.get(ws, name)
    try:
        files = read_manifest(ds, rel)
    except FileNotFoundError as exc:
        raise DatastoreError(f"Model content {location} is missing or incomplete on datastore "
                             f"{name!r} (no {MANIFEST}).") from exc
    for file_rel, size, _digest in files:
        dest = target / file_rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        ds.fs.get_file(ds.full_path(f"{rel}/{file_rel}"), str(dest))
        if dest.stat().st_size != size:
            raise DatastoreError(f"{location}/{file_rel} has {dest.stat().st_size} bytes, "
                                 f"its manifest says {size}.")
    return sorted({f[0].split("/", 1)[0] for f in files})


def cache_root() -> Path:
    from cumulus.snapshot import cache_dir

    return cache_dir() / "models"


def cached_copy(ws: Workspace, location: str, digest: str) -> Path:
    """A node-local, read-only-by-convention copy of a model's content (one per digest)."""
    final = cache_root() / digest
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}.", dir=final.parent))
    try:
        fetch_to(ws, location, tmp)
        tmp.rename(final)
    except OSError:
        if not final.is_dir():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # lost a race: the other copy is identical
    return final


def delete_content(ws: Workspace, location: str) -> None:
    """Remove stored content (the caller checked that no other version uses it)."""
    from cumulus.datastores import Datastore

    name, rel = parse_location(location)
    ds = Datastore.get(ws, name)
    path = ds.full_path(rel)
    try:
        ds.fs.rm(ds.full_path(f"{rel}/{MANIFEST}"))  # first: the copy stops being complete
        ds.fs.rm(path, recursive=True)
    except FileNotFoundError:
        pass
