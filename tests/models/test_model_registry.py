"""Model registry: versions, content-addressed storage, sources, filters, lineage, deletion."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from cumulus.errors import ModelNotFoundError, ValidationError
from cumulus.models import Model


def _stored_files(ws, model) -> list[str]:  # type: ignore[no-untyped-def]
    from cumulus.models._content import parse_location

    ds_name, rel = parse_location(model.location)
    ds = ws.datastores[ds_name]
    root = ds.full_path(rel)
    return sorted(p[len(root) + 1:] for p in ds.fs.find(root))


def test_register_file_versions_and_dedupe(fresh_workspace, tmp_path: Path) -> None:
    ws = fresh_workspace
    f = tmp_path / "model.pkl"
    f.write_bytes(b"weights-v1")
    m1 = Model.register(ws, model_path=str(f), model_name="digits", tags={"algo": "svm"},
                        properties={"acc": 0.9}, description="first")
    assert (m1.name, m1.version, m1.id) == ("digits", 1, "digits:1")
    assert m1.location.startswith("datastore://workspacestore/models/sha256/")
    assert m1.location.endswith(m1.digest)
    assert _stored_files(ws, m1) == ["MANIFEST.json", "model.pkl"]
    assert m1.tags == {"algo": "svm"} and m1.properties["acc"] == 0.9
    assert m1.properties["bytes"] == len(b"weights-v1") and m1.description == "first"

    m2 = Model.register(ws, model_path=f, model_name="digits")       # same bytes: same content
    assert m2.version == 2 and m2.location == m1.location
    f.write_bytes(b"weights-v3")
    m3 = Model.register(ws, model_path=f, model_name="digits")
    assert m3.version == 3 and m3.location != m1.location

    assert Model(ws, "digits").version == 3                            # latest
    assert Model(ws, "digits", version=1).description == "first"
    assert Model(ws, "digits:2") == m2
    assert Model(ws, "digits", 1).tags == {"algo": "svm"}


def test_register_folder_and_download(fresh_workspace, tmp_path: Path) -> None:
    ws = fresh_workspace
    folder = tmp_path / "bert"
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "sub" / "weights.bin").write_bytes(b"\x00" * 1000)
    m = Model.register(ws, folder, "bert")
    assert m.properties["files"] == 2 and m.properties["bytes"] == 1002

    out = tmp_path / "out"
    path = Path(m.download(out))
    assert path == out / "bert"
    assert (path / "sub" / "weights.bin").read_bytes() == b"\x00" * 1000
    with pytest.raises(ValidationError, match="exists already"):
        m.download(out)
    (path / "config.json").write_text("changed")
    m.download(out, exist_ok=True)
    assert (path / "config.json").read_text() == "{}"


def test_register_from_datastore(fresh_workspace, tmp_path: Path) -> None:
    ws = fresh_workspace
    ds = ws.get_default_datastore()
    src = tmp_path / "up"
    (src / "clf").mkdir(parents=True)
    (src / "clf" / "a.txt").write_text("A")
    ds.upload(src_dir=str(src), target_path="incoming")
    m1 = Model.register(ws, ds.path("incoming/clf"), "clf")
    m2 = Model.register(ws, "datastore://workspacestore/incoming/clf/a.txt", "clf-file")
    assert Path(m1.download(tmp_path / "d1")).joinpath("a.txt").read_text() == "A"
    assert Path(m2.download(tmp_path / "d2")).read_text() == "A"
    with pytest.raises(ValidationError, match="does not exist on datastore 'workspacestore'"):
        Model.register(ws, ds.path("incoming/nope"), "clf")


def test_list_filters(fresh_workspace, tmp_path: Path) -> None:
    ws = fresh_workspace
    f = tmp_path / "m.bin"
    f.write_bytes(b"x")
    Model.register(ws, f, "a", tags={"team": "vision", "algo": "svm"})
    Model.register(ws, f, "a", tags={"team": "vision"})
    Model.register(ws, f, "b", tags={"team": "nlp", "algo": "svm"})

    assert [m.id for m in Model.list(ws)] == ["a:2", "a:1", "b:1"]
    assert [m.id for m in Model.list(ws, name="a")] == ["a:2", "a:1"]
    assert [m.id for m in Model.list(ws, tags={"team": "vision"})] == ["a:2", "a:1"]
    assert [m.id for m in Model.list(ws, tags=["algo"])] == ["a:1", "b:1"]
    assert [m.id for m in Model.list(ws, tags=[["team", "nlp"]])] == ["b:1"]
    assert [m.id for m in Model.list(ws, latest=True)] == ["a:2", "b:1"]
    assert Model.list(ws, name="zzz") == []
    with pytest.raises(ValidationError, match="filter"):
        Model.list(ws, tags="team")


def test_tags_can_be_changed(fresh_workspace, tmp_path: Path) -> None:
    ws = fresh_workspace
    f = tmp_path / "m.bin"
    f.write_bytes(b"x")
    m = Model.register(ws, f, "t", tags={"a": 1, "b": 2})
    m.add_tags({"c": 3})
    m.remove_tags(["a"])
    assert Model(ws, "t", 1).tags == {"b": 2, "c": 3}


def test_bad_input_is_refused_with_a_clear_error(fresh_workspace, tmp_path: Path) -> None:
    ws = fresh_workspace
    with pytest.raises(ValidationError, match=r"model_path '.*missing.pkl' does not exist"):
        Model.register(ws, tmp_path / "missing.pkl", "m")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValidationError, match="empty folder"):
        Model.register(ws, tmp_path / "empty", "m")
    f = tmp_path / "m.bin"
    f.write_bytes(b"x")
    with pytest.raises(ValidationError, match="model_name 'bad name' is invalid"):
        Model.register(ws, f, "bad name")
    with pytest.raises(ValidationError, match="tags must be a dict"):
        Model.register(ws, f, "m", tags=["a"])  # type: ignore[arg-type]
    assert Model.list(ws) == []                               # nothing was registered

    Model.register(ws, f, "digits")
    with pytest.raises(ModelNotFoundError, match="Did you mean 'digits'"):
        Model(ws, "digitz")
    with pytest.raises(ModelNotFoundError, match="Versions of 'digits': 1"):
        Model(ws, "digits", version=7)


def test_delete_keeps_shared_content(fresh_workspace, tmp_path: Path) -> None:
    ws = fresh_workspace
    f = tmp_path / "m.bin"
    f.write_bytes(b"shared")
    m1 = Model.register(ws, f, "s")
    m2 = Model.register(ws, f, "s")
    m1.delete()
    assert [m.id for m in Model.list(ws)] == ["s:2"]
    assert "m.bin" in _stored_files(ws, m2)                 # still used by s:2
    m2.delete()
    assert _stored_files(ws, m2) == []
    with pytest.raises(ModelNotFoundError):
        Model(ws, "s")


TRAIN = textwrap.dedent('''
    import json, os
    os.makedirs("outputs/folder", exist_ok=True)
    with open("outputs/model.json", "w") as fh:
        json.dump({"version": "from-run", "w": 3}, fh)
    with open("outputs/folder/a.txt", "w") as fh:
        fh.write("A")
''')


@pytest.fixture(scope="module")
def trained_run(workspace, tmp_path_factory):  # type: ignore[no-untyped-def]
    from cumulus import Experiment, ScriptRunConfig

    src = tmp_path_factory.mktemp("train_src")
    (src / "train.py").write_text(TRAIN)
    run = Experiment(workspace, "model-registry").submit(
        ScriptRunConfig(source_directory=str(src), script="train.py"))
    run.wait_for_completion(raise_on_error=True, timeout=120)
    return run


def test_register_from_run_links_both_ways(trained_run, tmp_path: Path) -> None:
    run = trained_run
    ws = run.workspace
    m = run.register_model("from-run", "outputs/model.json", tags={"src": "run"})
    folder = run.register_model("from-run-folder", "outputs/folder")
    assert m.run_id == run.id and m.run == run and m.tags == {"src": "run"}
    assert m.properties["run_path"] == "outputs/model.json"
    assert {"from-run:1", "from-run-folder:1"} <= set(
        run.get_properties()["registered_models"])
    assert {x.id for x in Model.list(ws, run_id=run.id)} >= {"from-run:1", "from-run-folder:1"}
    assert json.loads(Path(m.download(tmp_path)).read_text())["version"] == "from-run"
    assert Path(folder.download(tmp_path)).joinpath("a.txt").read_text() == "A"


def test_register_from_run_missing_path(trained_run) -> None:
    with pytest.raises(ValidationError, match=r"has no file or folder 'outputs/model.jsn'.*"
                                              r"Did you mean 'outputs/model.json'"):
        trained_run.register_model("x", "outputs/model.jsn")
