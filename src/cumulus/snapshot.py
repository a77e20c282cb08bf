"""Source snapshots: a run's source_directory, stored once per content on the default datastore.

The snapshot honours ``.gitignore`` and ``.cumulusignore``; it refuses directories over the
limits with a message naming the largest offenders. Its identity is the hash of its manifest
(relative path, size and SHA-256 of every file), so an unchanged directory is stored once.
"""

from __future__ import annotations

import functools
import io
import os
import shutil
import tarfile
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cumulus._hashing import file_digest, text_digest, tree_digest
from cumulus._install import cache_dir
from cumulus.errors import SnapshotError

if TYPE_CHECKING:
    from cumulus.datastores import Datastore

MAX_BYTES = 300 * 1024 * 1024
MAX_FILES = 2000
ALWAYS_IGNORED = [".git/", "__pycache__/", "*.pyc", ".cumulus/", ".venv/", ".ipynb_checkpoints/"]
IGNORE_FILES = (".gitignore", ".cumulusignore")



@dataclass(frozen=True)
class Snapshot:
    digest: str
    files: tuple[tuple[str, int, str], ...]
    source: Path

    @property
    def total_bytes(self) -> int:
        return sum(f[1] for f in self.files)

    @property
    def location(self) -> str:
        return f"snapshots/{self.digest}.tar.gz"


def _spec(root: Path):
    lines = list(ALWAYS_IGNORED)
    for name in IGNORE_FILES:
        f = root / name
        if f.is_file():
            lines.extend(f.read_text(errors="replace").splitlines())
    return _compile_spec(tuple(lines))


@functools.lru_cache(maxsize=64)
def _compile_spec(lines: tuple[str, ...]):
    """Ignore rules compiled once per distinct text (every submit reads them again)."""
    import pathspec

    return pathspec.PathSpec.from_lines("gitwildmatch", lines)


def _walk(root: Path) -> list[tuple[str, int]]:
    """(relative path, size) of every file and symbolic link to snapshot.

    Links are kept as links (the node gets the same link), so they must be relative and lead
    to a place inside ``root``; anything else is refused here, at submit, naming the link.
    """
    spec = _spec(root)
    out: list[tuple[str, int]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
        dirnames[:] = sorted(d for d in dirnames if not spec.match_file(rel_dir + d + "/"))
        for d in list(dirnames):  # a link to a folder: kept as a link, not descended into
            if os.path.islink(os.path.join(dirpath, d)):
                dirnames.remove(d)
                _check_link(root, os.path.join(dirpath, d), rel_dir + d)
                out.append((rel_dir + d, 0))
        for name in sorted(filenames):
            rel = rel_dir + name
            if spec.match_file(rel):
                continue
            full = os.path.join(dirpath, name)
            if os.path.islink(full):
                _check_link(root, full, rel)
                out.append((rel, 0))
                continue
            out.append((rel, os.path.getsize(full)))
    return out


def _check_link(root: Path, full: str, rel: str) -> None:
    target = os.readlink(full)
    resolved = os.path.realpath(full)
    inside = resolved == str(root) or resolved.startswith(str(root) + os.sep)
    if os.path.isabs(target) or not inside:
        raise SnapshotError(
            f"source_directory {str(root)!r} holds a link {rel!r} -> {target!r} that "
            + ("is absolute" if os.path.isabs(target) else "leads outside the folder")
            + ". A snapshot keeps links as links, so the node would not find its target. "
            "Copy the file or folder in, make the link relative to a place inside, or put "
            "the data on a datastore.")


def _entry_hash(root: Path, rel: str) -> str:
    path = root / rel
    if path.is_symlink():
        return "link:" + text_digest(os.readlink(path))
    return _file_hash(path)


def _check_limits(root: Path, files: list[tuple[str, int]]) -> None:
    total = sum(size for _, size in files)
    if total <= MAX_BYTES and len(files) <= MAX_FILES:
        return
    biggest = sorted(files, key=lambda f: -f[1])[:5]
    dirs = Counter(f[0].split("/")[0] + ("/" if "/" in f[0] else "") for f in files)
    raise SnapshotError(
        f"source_directory {str(root)!r} is too large to snapshot: {len(files)} files, "
        f"{total / 1e6:.1f} MB (limits: {MAX_FILES} files, {MAX_BYTES / 1e6:.0f} MB). Largest "
        f"files: {', '.join(f'{n} ({s / 1e6:.1f} MB)' for n, s in biggest)}. Most files under: "
        f"{', '.join(f'{d} ({c})' for d, c in dirs.most_common(3))}. Exclude them with a "
        ".cumulusignore (gitignore syntax), or keep data on a datastore.")


def _file_hash(path: Path) -> str:
    return file_digest(path)


def take_snapshot(source_directory: str | os.PathLike[str]) -> Snapshot:
    """Scan and hash ``source_directory``; raises SnapshotError if missing or too large."""
    root = Path(source_directory).resolve()
    if not root.is_dir():
        raise SnapshotError(f"source_directory {str(source_directory)!r} does not exist or is "
                            "not a folder. Pass the folder that holds your script.")
    files = _walk(root)
    _check_limits(root, files)
    entries = tuple((rel, size, _entry_hash(root, rel)) for rel, size in files)
    digest = tree_digest(entries, 32)
    return Snapshot(digest=digest, files=entries, source=root)


def upload_snapshot(snap: Snapshot, ds: Datastore) -> bool:
    """Store the snapshot on ``ds`` unless present; True when bytes were uploaded."""
    target = ds.full_path(snap.location)
    if ds.fs.exists(target):
        return False
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        for rel, _size, _digest in snap.files:
            tar.add(snap.source / rel, arcname=rel, recursive=False)
    tmp = f"{target}.{os.getpid()}.{threading.get_ident()}.tmp"
    with ds.fs.open(tmp, "wb") as fh:
        fh.write(buf.getvalue())
    ds.fs.mv(tmp, target)
    return True




def materialize_snapshot(digest: str, ds: Datastore, dest: Path) -> None:
    """Copy snapshot ``digest`` into ``dest``, through a node-local extracted cache."""
    cached = cache_dir() / "snapshots" / digest
    if not cached.is_dir():
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{digest}.", dir=cached.parent))
        with ds.fs.open(ds.full_path(f"snapshots/{digest}.tar.gz"), "rb") as fh:
            data = fh.read()
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            tar.extractall(tmp, filter="data")
        try:
            tmp.rename(cached)
        except OSError:  # another process won the race; theirs is identical
            shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(cached, dest, dirs_exist_ok=True, symlinks=True)
