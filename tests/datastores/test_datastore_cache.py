"""The node-local content cache behind as_download(): hits, changes, tampering, LRU bound."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cumulus.datastores import ContentCache
from cumulus.datastores._cache import parse_size
from cumulus.errors import DatastoreError, ValidationError


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    (root / "a.bin").write_bytes(os.urandom(3000))
    (root / "sub" / "b.txt").write_text("b" * 1000)
    (root / "c.txt").write_text("c" * 500)
    return root


def _read_all(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_second_materialize_fetches_nothing_and_links_from_cache(blob, data, tmp_path):
    blob.upload(data, target_path="in", show_progress=False)
    cache = ContentCache(tmp_path / "cache")
    first = cache.materialize(blob, "in", tmp_path / "run1")
    assert (first.files, first.hits, first.fetched_files, first.fetched_bytes) == (3, 0, 3, 4500)
    second = cache.materialize(blob, "in", tmp_path / "run2")
    assert (second.hits, second.fetched_files, second.fetched_bytes) == (3, 0, 0)
    assert _read_all(tmp_path / "run2") == _read_all(data)
    a1, a2 = (tmp_path / "run1" / "a.bin").stat(), (tmp_path / "run2" / "a.bin").stat()
    assert a1.st_ino == a2.st_ino and a2.st_nlink == 3  # one cached copy, two links
    assert "3 from the node cache, fetched 0 (0 B)" in str(second)


def test_concurrent_runs_with_the_same_input_fetch_it_once(blob, data, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    blob.upload(data, target_path="in", show_progress=False)
    cache = ContentCache(tmp_path / "cache")
    with ThreadPoolExecutor(4) as pool:
        stats = list(pool.map(lambda i: cache.materialize(blob, "in", tmp_path / f"r{i}"),
                              range(4)))
    assert sum(s.fetched_files for s in stats) == 3
    assert sum(s.hits for s in stats) == 9
    for i in range(4):
        assert _read_all(tmp_path / f"r{i}") == _read_all(data)


def test_a_changed_remote_file_is_fetched_again_alone(blob, data, tmp_path):
    blob.upload(data, target_path="in", show_progress=False)
    cache = ContentCache(tmp_path / "cache")
    cache.materialize(blob, "in", tmp_path / "run1")
    (data / "c.txt").write_text("changed")
    blob.upload(data, target_path="in", overwrite=True, show_progress=False)
    again = cache.materialize(blob, "in", tmp_path / "run2")
    # re-uploading rewrote every blob (new ETags), so all are fetched; content is new
    assert again.fetched_files == 3
    assert (tmp_path / "run2" / "c.txt").read_text() == "changed"
    blob.upload_files([data / "c.txt"], target_path="in", overwrite=True, show_progress=False)
    third = cache.materialize(blob, "in", tmp_path / "run3")
    assert (third.hits, third.fetched_files) == (2, 1)


def test_a_file_modified_through_its_link_is_not_served_again(any_datastore, data, tmp_path):
    ds = any_datastore
    ds.upload(data, target_path="in", show_progress=False)
    cache = ContentCache(tmp_path / "cache")
    cache.materialize(ds, "in", tmp_path / "run1")
    linked = tmp_path / "run1" / "c.txt"
    assert linked.stat().st_mode & 0o222 == 0  # cached files are read-only
    os.chmod(linked, 0o644)
    linked.write_text("a script scribbled here")
    second = cache.materialize(ds, "in", tmp_path / "run2")
    assert (second.hits, second.fetched_files) == (2, 1)
    assert (tmp_path / "run2" / "c.txt").read_text() == "c" * 500


def test_single_file_input_and_missing_input(any_datastore, data, tmp_path):
    ds = any_datastore
    ds.upload(data, target_path="in", show_progress=False)
    cache = ContentCache(tmp_path / "cache")
    cache.materialize(ds, "in/sub/b.txt", tmp_path / "one" / "b.txt")
    assert (tmp_path / "one" / "b.txt").read_text() == "b" * 1000
    with pytest.raises(DatastoreError, match="Input ds-.*:in/nope does not exist"):
        cache.materialize(ds, "in/nope", tmp_path / "x")


def test_least_recently_used_files_are_evicted_beyond_the_bound(blob, tmp_path):
    for name in ("x", "y", "z"):
        d = tmp_path / name
        d.mkdir()
        (d / "f.bin").write_bytes(os.urandom(4000))
        blob.upload(d, target_path=name, show_progress=False)
    cache = ContentCache(tmp_path / "cache", max_bytes=9000)
    cache.materialize(blob, "x", tmp_path / "r1")
    cache.materialize(blob, "y", tmp_path / "r2")
    assert cache.usage() == 8000
    assert cache.materialize(blob, "x", tmp_path / "r3").hits == 1  # x is now most recent
    cache.materialize(blob, "z", tmp_path / "r4")  # over the bound: y (least recent) goes
    assert cache.usage() == 8000
    assert cache.materialize(blob, "x", tmp_path / "r5").hits == 1
    assert cache.materialize(blob, "y", tmp_path / "r6").fetched_files == 1
    assert (tmp_path / "r2" / "f.bin").stat().st_size == 4000  # a live link keeps its data


def test_an_input_being_committed_is_refused(blob, data, tmp_path):
    from cumulus.datastores._transfer import COMMITTING

    blob.upload(data, target_path="in", show_progress=False)
    blob.fs.pipe_file(blob.full_path(f"in/{COMMITTING}"), b"{}")
    with pytest.raises(DatastoreError, match="blob:in is incomplete"):
        ContentCache(tmp_path / "cache").materialize(blob, "in", tmp_path / "r")


def test_cache_sizes_parse():
    assert parse_size("20GiB") == 20 * 1024**3
    assert parse_size("500 MB") == 500 * 1000**2
    assert parse_size("1234") == 1234
    with pytest.raises(ValidationError, match="'lots' is invalid"):
        parse_size("lots")
