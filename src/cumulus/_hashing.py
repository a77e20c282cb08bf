"""Content hashes, one way: files (by content, cached by size and mtime), trees of files, and
JSON-able documents (canonical JSON). SHA-256 throughout.

Example::

    file_digest(Path("train.py"))                    # 64 hex digits
    stored_file_digest("/data/raw.csv")              # the same, remembered across processes
    doc_digest({"b": 1, "a": [2]}, length=16)        # same for any key order
    tree_digest([("a.py", 10, "9f..."), ("b/c", 3, "01...")])
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["doc_digest", "file_digest", "stored_file_digest", "text_digest", "tree_digest"]

_BLOCK = 1 << 20
_cache: dict[tuple[str, int, int], str] = {}
_lock = threading.Lock()


def file_digest(path: str | os.PathLike[str], *, cached: bool = True) -> str:
    """SHA-256 of a file's bytes; an unchanged file (same size and mtime) is read once per
    process."""
    path = Path(path)
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if cached:
        with _lock:
            found = _cache.get(key)
        if found is not None:
            return found
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_BLOCK), b""):
            h.update(block)
    digest = h.hexdigest()
    if cached:
        with _lock:
            _cache[key] = digest
    return digest


_stored = threading.local()


def stored_file_digest(path: str | os.PathLike[str]) -> str:
    """:func:`file_digest`, remembered across processes in a SQLite file in this
    installation's cache, keyed by path, size, mtime and inode: an unchanged file is read
    once, and a file rewritten with the same bytes (a new mtime) is read once more and has
    the same digest."""
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns, st.st_ino)
    conn = _digest_db()
    row = conn.execute("SELECT digest FROM files WHERE path = ? AND size = ? AND mtime_ns = ? "
                       "AND ino = ?", key).fetchone()
    if row is not None:
        return str(row[0])
    digest = file_digest(path)
    with conn:
        conn.execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)", (*key, digest))
    return digest


def _digest_db() -> sqlite3.Connection:
    conn: sqlite3.Connection | None = getattr(_stored, "conn", None)
    if conn is None:
        from cumulus._install import install_cache_dir

        folder = install_cache_dir()
        folder.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(folder / "file-digests.sqlite", timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        with conn:
            conn.execute("CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INTEGER, "
                         "mtime_ns INTEGER, ino INTEGER, digest TEXT)")
        _stored.conn = conn
    return conn


def text_digest(text: str | bytes, length: int | None = None) -> str:
    data = text.encode() if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()[:length]


def doc_digest(doc: Any, length: int | None = None) -> str:
    """SHA-256 of ``doc`` as canonical JSON (sorted keys; what JSON cannot hold as str())."""
    return text_digest(json.dumps(doc, sort_keys=True, default=str), length)


def tree_digest(entries: Iterable[tuple[str, int, str]], length: int | None = None) -> str:
    """One digest for a tree from its (relative path, size, file digest) entries, in order."""
    return text_digest(json.dumps([list(e) for e in entries]), length)
