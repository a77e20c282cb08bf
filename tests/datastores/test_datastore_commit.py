"""Atomic outputs: staging, commit (rename or markers + manifest), overwrite rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cumulus.datastores._commit import commit_output
from cumulus.datastores._transfer import COMMITTING, MANIFEST, STAGING_DIR
from cumulus.errors import DatastoreError


def _output(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / f"out{len(list(tmp_path.iterdir()))}"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    root.mkdir(exist_ok=True)
    return root


@pytest.mark.parametrize("kind", ["local", "memory", "az"])
def test_commit_writes_files_and_manifest_and_leaves_no_staging(datastore_of, kind, tmp_path):
    ds = datastore_of(kind)
    first = _output(tmp_path, {"model.txt": "v1", "metrics/m.json": "{}", "old.txt": "stale"})
    summary = commit_output(ds, first, "models/m", "run-1", overwrite=True)
    assert summary == {"datastore": ds.name, "path": "models/m", "bytes": 9, "files": 3,
                       "manifest": f"models/m/{MANIFEST}"}
    assert sorted(ds.list_files("models/m")) == ["models/m/metrics/m.json", "models/m/model.txt",
                                                 "models/m/old.txt"]
    manifest = json.loads(ds.fs.cat_file(ds.full_path(f"models/m/{MANIFEST}")))
    assert manifest["run_id"] == "run-1"
    assert [f["path"] for f in manifest["files"]] == ["metrics/m.json", "model.txt", "old.txt"]
    assert all(f["etag"] for f in manifest["files"])

    second = _output(tmp_path, {"model.txt": "v2"})
    commit_output(ds, second, "models/m", "run-2", overwrite=True)
    assert sorted(ds.list_files("models/m")) == ["models/m/model.txt"]  # stale files gone
    assert ds.fs.cat_file(ds.full_path("models/m/model.txt")) == b"v2"
    assert not ds.fs.exists(ds.full_path(STAGING_DIR) + "/run-2")
    assert not ds.fs.exists(ds.full_path(f"models/m/{COMMITTING}"))

    with pytest.raises(DatastoreError, match="already holds 1 file.*overwrite=False"):
        commit_output(ds, second, "models/m", "run-3", overwrite=False)


def test_an_empty_output_commits_just_its_manifest(datastore_of, tmp_path):
    ds = datastore_of("az")
    summary = commit_output(ds, _output(tmp_path, {}), "empty", "run-e", overwrite=True)
    assert summary["files"] == 0
    assert ds.exists(f"empty/{MANIFEST}")


def test_the_datastore_root_cannot_be_an_output(datastore_of, tmp_path):
    with pytest.raises(DatastoreError, match="cannot replace the datastore root"):
        commit_output(datastore_of("local"), _output(tmp_path, {"a": "b"}), "", "r",
                      overwrite=True)
