"""The node-local content cache behind ``as_download()``.

Every remote file is stored once per content, keyed by the store's identity, its path and its
ETag (or size and modification time where the store has no ETag). A second run that downloads
the same input fetches zero bytes: its files are hard-linked from the cache into the run's
folder. Cached files are read-only; one modified through its link is detected (size or mtime
changed) and fetched again. The cache has a size bound (``CUMULUS_CACHE_MAX_BYTES``, default
20 GiB) and evicts the least recently used files beyond it; links held by running runs keep
their data alive after eviction.

Example::

    stats = ContentCache().materialize(ds, "mnist", Path("inputs/mnist"))
    print(stats)     # 3 files: 3 from cache, fetched 0 files (0 B)
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import stat as stat_mod
import time
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cumulus._hashing import text_digest
from cumulus.datastores._backends import FileStat
from cumulus.datastores._progress import TransferProgress
from cumulus.datastores._transfer import MANIFEST, Job, human_bytes, listing, run_jobs
from cumulus.errors import DatastoreError, ValidationError

if TYPE_CHECKING:
    from cumulus.datastores._datastore import Datastore

DEFAULT_MAX_BYTES = 20 * 1024**3
UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2,
         "mib": 1024**2, "g": 1000**3, "gb": 1000**3, "gib": 1024**3, "t": 1000**4,
         "tb": 1000**4, "tib": 1024**4}
SCHEMA = """CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    last_used REAL NOT NULL, source TEXT NOT NULL)"""


@dataclass
class CacheStats:
    """What one ``materialize`` did."""

    files: int = 0
    hits: int = 0
    fetched_files: int = 0
    fetched_bytes: int = 0
    total_bytes: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        return (f"{self.files} file{'s' * (self.files != 1)} ({human_bytes(self.total_bytes)}): "
                f"{self.hits} from the node cache, fetched {self.fetched_files} "
                f"({human_bytes(self.fetched_bytes)}) in {self.seconds:.2f} s")


class ContentCache:
    """Content-addressed files under ``root`` with an SQLite index and an LRU size bound."""

    def __init__(self, root: str | os.PathLike[str] | None = None,
                 max_bytes: int | None = None) -> None:
        if root is None:
            from cumulus.snapshot import cache_dir

            root = cache_dir() / "content"
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.max_bytes = max_bytes if max_bytes is not None else max_bytes_from_env()
        self.objects.mkdir(parents=True, exist_ok=True)
        with closing(self._db()) as db, db:
            db.execute(SCHEMA)

    # public ------------------------------------------------------------------------------
    def materialize(self, ds: Datastore, path: str, dest: Path, *,
                    show_progress: bool = False) -> CacheStats:
        """Make ``dest`` hold datastore ``path`` (a file or a folder), fetching only misses."""
        started = time.perf_counter()
        tree = listing(ds, path)
        if not tree and _committed_empty(ds, path):  # an output its run left empty
            dest.mkdir(parents=True, exist_ok=True)
            return CacheStats(files=0, total_bytes=0)
        if not tree:
            raise DatastoreError(
                f"Input {ds.name}:{path or '/'} does not exist on the datastore (looked for "
                f"{ds.full_path(path)!r}). Upload it first, or fix the path.")
        identity = ds.backend.identity(ds.fs)
        keys = {rel: self.key(identity, st) for rel, st in tree.items()}
        stats = CacheStats(files=len(tree), total_bytes=sum(s.size for s in tree.values()))
        misses = self._link_hits(tree, keys, dest, stats)
        if misses:
            # one fetcher per set of files on this node: a concurrent run with the same input
            # waits here, then finds everything cached
            with self._lock(sorted(keys[r] for r in misses)):
                misses = self._link_hits({r: tree[r] for r in misses}, keys, dest, stats)
                if misses:
                    self._fetch(ds, identity, {r: tree[r] for r in misses}, keys, show_progress)
                    for rel in misses:
                        if not _link(self._object(keys[rel]), _target(dest, rel)):
                            raise DatastoreError(f"The node cache lost {rel!r} of {ds.name}:"
                                                 f"{path} while linking it; retry the run.")
            stats.fetched_files = len(misses)
            stats.fetched_bytes = sum(tree[r].size for r in misses)
        self.evict(keep=set(keys.values()))
        stats.seconds = time.perf_counter() - started
        return stats

    def key(self, identity: str, st: FileStat) -> str:
        token = f"{identity}\n{st.path}\n{st.size}\n{st.etag or ''}\n{st.md5 or ''}"
        return text_digest(token)

    def usage(self) -> int:
        with closing(self._db()) as db:
            return int(db.execute("SELECT COALESCE(SUM(size), 0) FROM entries").fetchone()[0])

    def evict(self, keep: Iterable[str] = ()) -> int:
        """Delete least recently used files until the cache fits its bound; returns bytes."""
        keep = set(keep)
        freed = 0
        with closing(self._db()) as db, db:
            total = int(db.execute("SELECT COALESCE(SUM(size), 0) FROM entries").fetchone()[0])
            if total <= self.max_bytes:
                return 0
            rows = db.execute("SELECT key, size FROM entries ORDER BY last_used").fetchall()
            for key, size in rows:
                if total <= self.max_bytes:
                    break
                if key in keep:
                    continue
                _unlink(self._object(key))
                db.execute("DELETE FROM entries WHERE key = ?", (key,))
                total -= size
                freed += size
        return freed

    def clear(self) -> None:
        shutil.rmtree(self.root / "locks", ignore_errors=True)
        shutil.rmtree(self.objects, ignore_errors=True)
        self.objects.mkdir(parents=True, exist_ok=True)
        with closing(self._db()) as db, db:
            db.execute("DELETE FROM entries")

    # internals ---------------------------------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.root / "index.sqlite", timeout=60)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    @contextmanager
    def _lock(self, keys: list[str]) -> Iterator[None]:
        name = text_digest("\n".join(keys), 32)
        from cumulus._procs import file_lock

        with file_lock(self.root / "locks" / name):   # kept: unlinking would race
            yield

    def _object(self, key: str) -> Path:
        return self.objects / key[:2] / key

    def _link_hits(self, tree: dict[str, FileStat], keys: dict[str, str], dest: Path,
                   stats: CacheStats) -> list[str]:
        """Link every valid cached file into ``dest``; returns the relative names missed."""
        rows = self._rows(list(keys.values()))
        misses, used = [], []
        for rel in sorted(tree):
            key = keys[rel]
            obj = self._object(key)
            row = rows.get(key)
            if row is None or not _intact(obj, *row) or not _link(obj, _target(dest, rel)):
                misses.append(rel)
                continue
            used.append(key)
            stats.hits += 1
        if used:
            now = time.time()
            with closing(self._db()) as db, db:
                db.executemany("UPDATE entries SET last_used = ? WHERE key = ?",
                               [(now, k) for k in used])
        return misses

    def _rows(self, keys: list[str]) -> dict[str, tuple[int, int]]:
        out: dict[str, tuple[int, int]] = {}
        with closing(self._db()) as db:
            for i in range(0, len(keys), 500):
                chunk = keys[i:i + 500]
                marks = ",".join("?" * len(chunk))
                for key, size, mtime in db.execute(
                        f"SELECT key, size, mtime_ns FROM entries WHERE key IN ({marks})", chunk):
                    out[key] = (size, mtime)
        return out

    def _fetch(self, ds: Datastore, identity: str, tree: dict[str, FileStat],
               keys: dict[str, str], show_progress: bool) -> None:
        jobs = [Job(st.path, str(self._object(keys[rel])), rel, st.size)
                for rel, st in tree.items()]
        with TransferProgress(f"cache ← {ds.name}", files=len(jobs),
                              total_bytes=sum(j.size for j in jobs),
                              enabled=show_progress) as progress:
            fetched = run_jobs(ds, jobs, "get", progress)
        rows = []
        for rel, st in tree.items():
            obj = self._object(keys[rel])
            got = fetched.get(rel)
            if got is not None and (got.etag, got.size) != (st.etag, st.size) and got.etag:
                # the file changed between listing and fetch: file it under what we got
                new = self.key(identity, FileStat(st.path, got.size, got.etag, got.md5))
                self._object(new).parent.mkdir(parents=True, exist_ok=True)
                os.replace(obj, self._object(new))
                keys[rel], obj = new, self._object(new)
            os.chmod(obj, 0o444)
            s = obj.stat()
            rows.append((keys[rel], s.st_size, s.st_mtime_ns, time.time(),
                         f"{ds.name}:{st.path}"))
        with closing(self._db()) as db, db:
            db.executemany("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?)", rows)


def max_bytes_from_env() -> int:
    """``CUMULUS_CACHE_MAX_BYTES``: bytes, or a size like '20GiB' / '500MB'."""
    raw = os.environ.get("CUMULUS_CACHE_MAX_BYTES", "").strip()
    return parse_size(raw) if raw else DEFAULT_MAX_BYTES


def parse_size(text: str) -> int:
    s = text.strip().lower().replace(" ", "")
    num = s.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = s[len(num):]
    try:
        value = float(num)
    except ValueError:
        value = -1
    if unit not in UNITS or value < 0:
        raise ValidationError(f"Cache size {text!r} is invalid; give bytes or a size like "
                              "'20GiB', '500MB'.")
    return int(value * UNITS[unit])


def _intact(obj: Path, size: int, mtime_ns: int) -> bool:
    try:
        s = obj.stat()
    except FileNotFoundError:
        return False
    return s.st_size == size and s.st_mtime_ns == mtime_ns and not (s.st_mode & stat_mod.S_IWUSR)


def _target(dest: Path, rel: str) -> Path:
    return dest / rel if rel else dest


def _link(obj: Path, target: Path) -> bool:
    """Hard-link ``obj`` at ``target`` (copy across devices); False if ``obj`` vanished."""
    target.parent.mkdir(parents=True, exist_ok=True)
    _unlink(target)
    try:
        os.link(obj, target)
    except FileNotFoundError:
        return False
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
            raise
        try:
            shutil.copyfile(obj, target)
        except FileNotFoundError:
            return False
    return True


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _committed_empty(ds: Datastore, path: str) -> bool:
    """True when ``path`` is a run output committed with no files (only its manifest)."""
    import posixpath

    return bool(path) and bool(ds.fs.exists(ds.full_path(posixpath.join(path, MANIFEST))))
