"""One conformance suite for every datastore kind: local folder, memory, Azure Blob (Azurite)."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import pytest

from cumulus.errors import DatastoreError, ValidationError


def _tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    (root / "nested" / "deeper").mkdir(parents=True)
    (root / "a.txt").write_text("alpha\n")
    (root / "empty.bin").write_bytes(b"")
    (root / "nested" / "b.csv").write_text("x,y\n1,2\n")
    (root / "nested" / "deeper" / "c.json").write_text('{"k": 1}')
    # larger than the Azure large-file threshold: goes in parallel blocks / ranges
    (root / "big.bin").write_bytes(os.urandom(17 * 1024 * 1024 + 123))
    return root


def test_upload_then_download_round_trips_bytes_and_records_etags(any_datastore, src, tmp_path):
    ds = any_datastore
    result = ds.upload(src, target_path="in", show_progress=False)
    assert len(result) == 5 and not result.skipped
    assert result.bytes == sum(p.stat().st_size for p in src.rglob("*") if p.is_file())
    assert all(f.etag for f in result.files), result.files
    listed = ds.list_files("in")
    assert sorted(listed) == sorted(f"in/{k}" for k in _tree(src))
    assert listed["in/big.bin"].size == (src / "big.bin").stat().st_size

    out = tmp_path / "out"
    got = ds.download(out, prefix="in", show_progress=False)
    assert len(got) == 5
    assert _tree(out / "in") == _tree(src)
    assert not list(out.rglob("*.cumulus-part-*"))


def test_overwrite_false_skips_existing_files_and_says_so(any_datastore, src, tmp_path, caplog):
    ds = any_datastore
    ds.upload(src, target_path="in", show_progress=False)
    (src / "a.txt").write_text("changed\n")
    (src / "new.txt").write_text("new\n")
    with caplog.at_level(logging.WARNING, logger="cumulus.datastores"):
        again = ds.upload(src, target_path="in", show_progress=False)
    assert [f.path.rsplit("/", 1)[-1] for f in again.files] == ["new.txt"]
    assert sorted(again.skipped) == ["in/a.txt", "in/big.bin", "in/empty.bin",
                                     "in/nested/b.csv", "in/nested/deeper/c.json"]
    assert "Skipped 5 files that already exist" in caplog.text
    assert "overwrite=True" in caplog.text
    with ds.fs.open(ds.full_path("in/a.txt"), "rb") as fh:
        assert fh.read() == b"alpha\n"

    replaced = ds.upload(src, target_path="in", overwrite=True, show_progress=False)
    assert len(replaced) == 6 and not replaced.skipped
    with ds.fs.open(ds.full_path("in/a.txt"), "rb") as fh:
        assert fh.read() == b"changed\n"


def test_download_skips_existing_local_files_unless_overwrite(any_datastore, src, tmp_path):
    ds = any_datastore
    ds.upload(src / "nested", target_path="n", show_progress=False)
    out = tmp_path / "out"
    ds.download(out, prefix="n", show_progress=False)
    (out / "n" / "b.csv").write_text("local edit")
    second = ds.download(out, prefix="n", show_progress=False)
    assert len(second) == 0 and sorted(second.skipped) == ["n/b.csv", "n/deeper/c.json"]
    assert (out / "n" / "b.csv").read_text() == "local edit"
    third = ds.download(out, prefix="n", overwrite=True, show_progress=False)
    assert len(third) == 2
    assert (out / "n" / "b.csv").read_text() == "x,y\n1,2\n"


def test_upload_files_keeps_paths_under_relative_root(any_datastore, src):
    ds = any_datastore
    files = [src / "a.txt", src / "nested" / "deeper" / "c.json"]
    ds.upload_files(files, relative_root=src, target_path="rel", show_progress=False)
    ds.upload_files(files, target_path="flat", show_progress=False)
    assert sorted(ds.list_files("rel")) == ["rel/a.txt", "rel/nested/deeper/c.json"]
    assert sorted(ds.list_files("flat")) == ["flat/a.txt", "flat/c.json"]
    with pytest.raises(ValidationError, match="not under relative_root"):
        ds.upload_files([src / "a.txt"], relative_root=src / "nested", show_progress=False)
    (src / "nested" / "a.txt").write_text("other a")
    with pytest.raises(ValidationError, match="same target 'a.txt'"):
        ds.upload_files([src / "a.txt", src / "nested" / "a.txt"], show_progress=False)


@pytest.mark.parametrize("bad", ["../escape", "a/../../b", "/etc", "C:/x", "az://other/x"])
def test_escaping_or_absolute_targets_are_rejected(any_datastore, src, tmp_path, bad):
    ds = any_datastore
    with pytest.raises(ValidationError, match="absolute|'\\.\\.'"):
        ds.upload(src, target_path=bad, show_progress=False)
    with pytest.raises(ValidationError):
        ds.download(tmp_path / "o", prefix=bad, show_progress=False)
    with pytest.raises(ValidationError):
        ds.path(bad)
    assert not ds.list_files("")  # nothing was written


def test_many_small_files_all_arrive(any_datastore, tmp_path):
    ds = any_datastore
    root = tmp_path / "many"
    root.mkdir()
    for i in range(300):
        (root / f"f{i:03d}.txt").write_text(f"file {i}\n" * (i % 7))
    result = ds.upload(root, target_path="many", show_progress=False)
    assert len(result) == 300
    out = tmp_path / "back"
    assert len(ds.download(out, prefix="many", show_progress=False)) == 300
    assert _tree(out / "many") == _tree(root)


def test_progress_bar_reports_bytes_and_files(any_datastore, src, capsys):
    any_datastore.upload(src, target_path="p", show_progress=True)
    err = capsys.readouterr().err
    assert "5/5 files" in err
    assert "17.8/17.8 MB" in err


def test_missing_prefix_download_is_a_clear_error(any_datastore, tmp_path):
    with pytest.raises(DatastoreError, match="does not exist or is empty"):
        any_datastore.download(tmp_path, prefix="nothing/here", show_progress=False)


def test_single_file_upload_and_download(any_datastore, src, tmp_path):
    ds = any_datastore
    result = ds.upload(src / "a.txt", target_path="one", show_progress=False)
    assert [f.size for f in result.files] == [6]
    ds.download(tmp_path / "o", prefix="one/a.txt", show_progress=False)
    assert (tmp_path / "o" / "one" / "a.txt").read_text() == "alpha\n"
    assert ds.exists("one/a.txt") and not ds.exists("one/b.txt")
