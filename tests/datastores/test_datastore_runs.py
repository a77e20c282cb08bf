"""Data paths in real runs on the warm local compute target, against a real Azurite."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import psutil
import pytest

from azurite import AZ_ENV
from cumulus import Experiment, ScriptRunConfig
from cumulus.datastores import Datastore
from cumulus.errors import DatastoreNotFoundError, ValidationError

SCRIPT = """
import json, os, pathlib, sys
from cumulus.datastores import direct_filesystem
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
dl, mnt, out = (pathlib.Path(args[k]) for k in ("--dl", "--mnt", "--out"))
print("ARGV", json.dumps(sys.argv))
print("DL", sorted(p.relative_to(dl).as_posix() for p in dl.rglob("*") if p.is_file()))
print("DL_A", (dl / "a.txt").read_text())
print("MNT", mnt.read_text())
fs, path = direct_filesystem("DIRECT")
print("DIRECT", args["--direct"], fs.cat_file(path + "/sub/b.txt").decode())
print("ENV", os.environ["CUMULUS_INPUT_DATA"] == str(dl),
      os.environ["CUMULUS_OUTPUT_RESULT"] == str(out), os.environ["CUMULUS_INPUT_A"] == str(mnt))
print("OPTIONS", os.environ["CUMULUS_INPUT_DIRECT_OPTIONS"])
(out / "result.txt").write_text("done")
(out / "nested").mkdir()
(out / "nested" / "x.bin").write_bytes(b"x" * 100)
"""


@pytest.fixture(scope="module")
def runblob(workspace, azurite):  # type: ignore[no-untyped-def]
    """An Azure datastore in the shared workspace, with an input folder on it."""
    name = f"runs{uuid.uuid4().hex[:10]}"
    azurite.create_container(name)
    ds = Datastore.register(workspace, name, f"az://{name}/data", credential_env=AZ_ENV)
    return ds


def _submit(ws, src: Path, args: list, name: str = "datastore-runs"):  # type: ignore[no-untyped-def]
    return Experiment(ws, name).submit(ScriptRunConfig(
        source_directory=src, script="s.py", arguments=args, compute_target="local"))


def _inputs(ds: Datastore, tmp_path: Path, prefix: str) -> None:
    src = tmp_path / "inputs"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("A")
    (src / "sub" / "b.txt").write_text("B")
    ds.upload(src, target_path=prefix, show_progress=False)


def test_download_mount_direct_and_upload_in_one_run(workspace, runblob, azurite, tmp_path,
                                                     script_dir):
    ds = runblob
    _inputs(ds, tmp_path, "in1")
    src = script_dir({"s.py": SCRIPT})
    args = ["--dl", ds.path("in1").as_download().named("data"),
            "--mnt", ds.path("in1/a.txt").as_mount(),
            "--direct", ds.path("in1").as_direct().named("direct"),
            "--out", ds.path("out/r1").as_upload().named("result")]
    run = _submit(workspace, src, args)
    run.wait_for_completion(raise_on_error=False)
    log = run.get_log()
    assert run.get_status() == "Completed", log
    assert "DL ['a.txt', 'sub/b.txt']" in log and "DL_A A" in log and "MNT A" in log
    assert f"DIRECT az://{ds.name}/data/in1 B" in log
    assert "ENV True True True" in log
    assert "fetched 2 (2 B)" in log  # the first download fetched both files

    # the output was committed with a manifest, and nothing is left in staging
    blobs = azurite.list_blobs(ds.name, "data/")
    assert sorted(b for b in blobs if b.startswith("data/out/")) == [
        "data/out/r1/.cumulus-manifest.json", "data/out/r1/nested/x.bin",
        "data/out/r1/result.txt"]
    assert not [b for b in blobs if ".cumulus-staging" in b or ".cumulus-committing" in b]
    manifest = json.loads(ds.fs.cat_file(ds.full_path("out/r1/.cumulus-manifest.json")))
    assert manifest["run_id"] == run.id
    assert {f["path"]: f["size"] for f in manifest["files"]} == {"nested/x.bin": 100,
                                                                 "result.txt": 4}
    assert all(f["etag"] for f in manifest["files"])
    assert run.get_details()["properties"]["cumulus.outputs"][0]["files"] == 2

    # secrets: never in argv, the log or the store; direct options carry the NAME only
    key = azurite.key
    argv_line = next(line for line in log.splitlines() if line.startswith("ARGV"))
    assert key not in argv_line and key not in log
    options = json.loads(next(x for x in log.splitlines() if x.startswith("OPTIONS"))[8:])
    assert options["definition"] == {"credential_env": AZ_ENV}
    assert key.encode() not in b"".join(p.read_bytes()
                                        for p in workspace.state_dir.glob("store.db*"))

    # a second run on the same node downloads the same input from the node cache
    again = _submit(workspace, src, [*args[:7], ds.path("out/r2").as_upload().named("result")])
    again.wait_for_completion(raise_on_error=False)
    assert again.get_status() == "Completed", again.get_log()
    assert "2 from the node cache, fetched 0 (0 B)" in again.get_log()


def test_missing_input_fails_in_preparing_before_the_script(workspace, runblob, script_dir):
    src = script_dir({"s.py": "print('SCRIPT STARTED')\n"})
    run = _submit(workspace, src, ["--data", runblob.path("no/such/folder").as_download()])
    run.wait_for_completion(raise_on_error=False)
    assert run.get_status() == "Failed"
    details = run.get_details()
    message = json.dumps(details.get("error")) + str(details)
    assert f"{runblob.name}:no/such/folder does not exist" in message
    assert "SCRIPT STARTED" not in run.get_log()
    events = workspace.store.status_events(run.id)
    assert "Running" not in [e["to_status"] for e in events]
    assert (events[-1]["from_status"], events[-1]["to_status"]) == ("Preparing", "Failed")


def test_killed_output_upload_fails_the_run_and_commits_nothing(workspace, runblob, azurite,
                                                                script_dir):
    src = script_dir({"s.py": (
        "import os, sys\n"
        "out = sys.argv[2]\n"
        "for i in range(100):\n"
        "    open(os.path.join(out, f'part{i:03d}.bin'), 'wb').write(os.urandom(2 << 20))\n")})
    run = _submit(workspace, src, ["--out", runblob.path("out/killed").as_upload()])
    staging = f"data/.cumulus-staging/{run.id}/"
    proc = _wait_for_uploader(run.id)
    while not azurite.list_blobs(runblob.name, staging):  # mid-upload: some parts staged
        assert proc.is_running(), "the upload finished before it could be interrupted"
        time.sleep(0.01)
    proc.kill()
    run.wait_for_completion(raise_on_error=False)
    assert run.get_status() == "Failed"
    reason = json.dumps(run.get_details().get("error"))
    assert "killed by SIGKILL" in reason
    assert f"nothing was committed at {runblob.name}:out/killed" in reason
    assert azurite.list_blobs(runblob.name, "data/out/killed") == []
    assert azurite.list_blobs(runblob.name, staging) == []


def _wait_for_uploader(run_id: str, timeout: float = 120.0) -> psutil.Process:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in psutil.process_iter(["cmdline"]):
            cmd = proc.info["cmdline"] or []
            if "cumulus.datastores._commit" in cmd and run_id in cmd:
                return proc
        time.sleep(0.01)
    raise AssertionError("the output upload process never started")


def test_a_workspace_whose_default_datastore_is_azure_runs(workspace, azurite, tmp_path,
                                                           script_dir):
    name = f"wsdefault{uuid.uuid4().hex[:8]}"
    azurite.create_container(name)
    blob = Datastore.register(workspace, name, f"az://{name}/ws", credential_env=AZ_ENV)
    previous = Datastore.get_default(workspace)
    blob.set_as_default()
    try:
        src = script_dir({"s.py": f"# {uuid.uuid4()}\nimport os\nos.makedirs('outputs', "
                                  "exist_ok=True)\nopen('outputs/model.txt', 'w').write('m')\n"
                                  "print('hello from azure default')\n"})
        run = _submit(workspace, src, [])
        run.wait_for_completion(raise_on_error=False)
        assert run.get_status() == "Completed", run.get_log()
    finally:
        previous.set_as_default()
    blobs = azurite.list_blobs(name)
    assert any(b.startswith("ws/snapshots/") and b.endswith(".tar.gz") for b in blobs), blobs
    assert f"ws/runs/{run.id}/outputs/model.txt" in blobs
    assert f"ws/runs/{run.id}/logs/std_log.txt" in blobs
    assert run.download_file("outputs/model.txt", tmp_path / "m.txt").read_text() == "m"


def test_bad_data_paths_are_refused_at_submission(workspace, script_dir):
    src = script_dir({"s.py": "print(1)\n"})
    exp = Experiment(workspace, "datastore-refused")
    before = len(list(exp.get_runs()))
    mem = Datastore.register(workspace, "mem-only", "memory://refused/x")
    with pytest.raises(ValidationError, match="memory:// datastore.*cannot see it"):
        exp.submit(ScriptRunConfig(source_directory=src, script="s.py",
                                   arguments=[mem.path("x").as_download()]))
    ghost = Datastore(workspace, "ghost", "file:///tmp").path("x").as_download()
    with pytest.raises(DatastoreNotFoundError, match="'ghost' does not exist"):
        exp.submit(ScriptRunConfig(source_directory=src, script="s.py", arguments=[ghost]))
    local = Datastore.get(workspace, "workspacestore")
    with pytest.raises(ValidationError, match="would both set CUMULUS_INPUT_X"):
        exp.submit(ScriptRunConfig(source_directory=src, script="s.py", arguments=[
            local.path("a/x").as_download(), local.path("b/x").as_download()]))
    assert len(list(exp.get_runs())) == before
    mem.unregister()
    assert os.environ.get(AZ_ENV)
