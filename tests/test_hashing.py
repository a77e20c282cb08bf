"""One content-hash helper: files, trees and documents (literals)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from cumulus._hashing import (
    doc_digest,
    file_digest,
    stored_file_digest,
    text_digest,
    tree_digest,
)


def test_documents_hash_the_same_in_any_key_order() -> None:
    assert doc_digest({"b": 1, "a": [2]}) == doc_digest({"a": [2], "b": 1})
    assert doc_digest({"a": 1}, 8) == hashlib.sha256(b'{"a": 1}').hexdigest()[:8]
    assert doc_digest({"when": Path("/x")}) == doc_digest({"when": "/x"})  # str() fallback


def test_text_and_tree_digests() -> None:
    assert text_digest("abc") == hashlib.sha256(b"abc").hexdigest()
    assert text_digest(b"abc", 4) == hashlib.sha256(b"abc").hexdigest()[:4]
    entries = (("a.py", 3, "aa"), ("b/c.txt", 1, "bb"))
    assert tree_digest(entries) == text_digest('[["a.py", 3, "aa"], ["b/c.txt", 1, "bb"]]')
    assert tree_digest(entries) != tree_digest(reversed(entries))   # order is content


def test_file_digest_follows_content_changes(tmp_path: Path) -> None:
    f = tmp_path / "f.bin"
    f.write_bytes(b"x" * (3 << 20))           # more than one read block
    assert file_digest(f) == hashlib.sha256(b"x" * (3 << 20)).hexdigest()
    f.write_bytes(b"y")
    os.utime(f, ns=(1, 1))
    assert file_digest(f) == hashlib.sha256(b"y").hexdigest()
    assert file_digest(f, cached=False) == file_digest(f)


OTHER_PROCESS = """
import sys
import cumulus._hashing as h
def unread(path, cached=True):
    raise AssertionError("read again")
h.file_digest = unread
print(h.stored_file_digest(sys.argv[1]))
"""


def test_stored_digest_is_kept_across_processes_and_a_rewrite_with_the_same_bytes(
        tmp_path: Path) -> None:
    f = tmp_path / "data.csv"
    f.write_text("a,b\n1,2\n")
    first = stored_file_digest(f)
    assert first == hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    found = subprocess.run([sys.executable, "-c", OTHER_PROCESS, str(f)], capture_output=True,
                           text=True, check=True).stdout.strip()
    assert found == first                     # another process: from the store, not read
    f.write_text("a,b\n1,2\n")                 # the same bytes again: a new mtime
    os.utime(f, ns=(10**18, 10**18))
    assert stored_file_digest(f) == first
    f.write_text("a,b\n1,3\n")
    assert stored_file_digest(f) == hashlib.sha256(b"a,b\n1,3\n").hexdigest()
