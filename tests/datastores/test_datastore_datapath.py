"""DataPath modes and names, the retry layer, direct access from a script's environment."""

from __future__ import annotations

import asyncio
import json

import pytest

from cumulus.datastores import DataPath, direct_filesystem
from cumulus.datastores._retry import aretry, retry
from cumulus.errors import DatastoreError, ValidationError


def test_modes_names_and_round_trip():
    p = DataPath("blob", "mnist/train.npz")
    assert p.mode == "direct"
    assert p.as_download().env_name == "CUMULUS_INPUT_TRAIN"
    assert p.as_upload().env_name == "CUMULUS_OUTPUT_TRAIN"
    assert p.as_mount().named("images").env_name == "CUMULUS_INPUT_IMAGES"
    assert DataPath("blob", "").as_download().env_name == "CUMULUS_INPUT_BLOB"
    d = p.as_download("data/train.npz")
    assert DataPath.from_dict(json.loads(json.dumps(d.to_dict()))) == d
    assert str(d) == "{{cumulus:download:blob:mnist/train.npz}}"
    assert not p.as_upload(overwrite=False).overwrite


def test_bad_data_paths_are_refused():
    with pytest.raises(ValidationError, match="path_on_compute '../x' is invalid"):
        DataPath("blob", "a").as_download("../x")
    with pytest.raises(ValidationError, match="mode 'copy' is unknown"):
        DataPath("blob", "a", mode="copy")
    with pytest.raises(ValidationError, match="name 'my-data' must be"):
        DataPath("blob", "a").named("my-data")


def test_retry_layer_retries_transient_errors_only():
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("reset")
        return "ok"

    transient = lambda e: isinstance(e, ConnectionError)  # noqa: E731
    assert retry(flaky, transient=transient, delay=0) == "ok" and len(calls) == 3
    with pytest.raises(ValueError):
        retry(lambda: (_ for _ in ()).throw(ValueError("bad")), transient=transient, delay=0)

    async def always() -> None:
        calls.append(1)
        raise ConnectionError("down")

    calls.clear()
    with pytest.raises(ConnectionError):
        asyncio.run(aretry(always, transient=transient, attempts=2, delay=0))
    assert len(calls) == 2


def test_direct_filesystem_reads_the_definition_from_the_environment(blob, monkeypatch,
                                                                     tmp_path):
    (tmp_path / "x.txt").write_text("direct!")
    blob.upload_files([tmp_path / "x.txt"], target_path="in", show_progress=False)
    monkeypatch.setenv("CUMULUS_INPUT_DATA_OPTIONS", json.dumps({
        "datastore": blob.name, "url": blob.url, "path": "in", "definition": blob.definition,
        "storage_options": {}}))
    fs, path = direct_filesystem("data")
    assert fs.cat_file(f"{path}/x.txt") == b"direct!"
    with pytest.raises(DatastoreError, match="No direct input CUMULUS_INPUT_OTHER.*"
                                             "CUMULUS_INPUT_DATA"):
        direct_filesystem("other")
