"""Script runs end to end on the real local compute target (Dask workers, subprocesses)."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest

from cumulus import Experiment, Run, ScriptRunConfig
from cumulus.errors import (
    ComputeTargetNotFoundError,
    RunError,
    RunNotFoundError,
    SnapshotError,
    ValidationError,
)

pytestmark = pytest.mark.integration

TRAIN = """
import os, sys
from cumulus import Run
run = Run.get_context()
for i in range(int(sys.argv[1])):
    run.log("loss", 1.0 / (i + 1))
run.log_list("lr", [0.1, 0.01])
run.log_row("epoch", n=1, acc=0.5)
run.log_row("epoch", n=2, acc=0.7)
run.log_table("confusion", {"label": [0, 1], "count": [3, 4]})
run.tag("stage", "test")
with run.child_run("eval") as child:
    child.log("score", 0.9)
os.makedirs("outputs/sub", exist_ok=True)
open("outputs/model.txt", "w").write("weights")
open("outputs/sub/extra.txt", "w").write("x")
open("logs/train.log", "w").write("log file")
print("done training", flush=True)
"""


def _exp(workspace, name: str) -> Experiment:  # type: ignore[no-untyped-def]
    return Experiment(workspace, name)


def test_completed_run_metrics_files_children(workspace, script_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    src = script_dir({"train.py": TRAIN})
    run = _exp(workspace, "runs-ok").submit(
        ScriptRunConfig(source_directory=src, script="train.py", arguments=[50]),
        tags={"team": "a"})
    out = io.StringIO()
    details = run.wait_for_completion(show_output=True, stream=out, timeout=120)
    assert details["status"] == "Completed", out.getvalue()
    assert details["exitCode"] == 0
    assert "done training" in out.getvalue()
    m = run.get_metrics()
    assert len(m["loss"]) == 50 and m["loss"][0] == 1.0
    assert m["lr"] == [0.1, 0.01]
    assert m["epoch"] == {"n": [1, 2], "acc": [0.5, 0.7]}
    assert m["confusion"] == {"label": [0, 1], "count": [3, 4]}
    assert run.get_tags() == {"team": "a", "stage": "test"}
    names = run.get_file_names()
    assert {"outputs/model.txt", "outputs/sub/extra.txt", "logs/train.log",
            "logs/std_log.txt"} <= set(names)
    target = run.download_file("outputs/model.txt", tmp_path / "model.txt")
    assert target.read_text() == "weights"
    files = run.download_files(prefix="outputs/", output_directory=tmp_path / "dl")
    assert len(files) == 2 and (tmp_path / "dl" / "outputs" / "sub" / "extra.txt").exists()
    (child,) = run.get_children()
    assert child.get_status() == "Completed" and child.get_metrics() == {"score": 0.9}
    assert set(run.get_metrics(recursive=True)) == {run.id, child.id}
    history = [e["status"] for e in details["statusHistory"]]
    assert history == ["Queued", "Preparing", "Running", "Finalizing", "Completed"]
    again = Run(run.experiment, run.id)
    assert again.get_status() == "Completed"


def test_log_streams_while_running(workspace, script_dir) -> None:  # type: ignore[no-untyped-def]
    src = script_dir({"slow.py": "import time\nprint('first line', flush=True)\n"
                                 "time.sleep(6)\nprint('last line')\n"})
    run = _exp(workspace, "runs-stream").submit(
        ScriptRunConfig(source_directory=src, script="slow.py"))
    deadline = time.monotonic() + 60
    seen_while_running = False
    while time.monotonic() < deadline:
        status = run.get_status()
        if "first line" in run.get_log():
            seen_while_running = status == "Running"
            break
        time.sleep(0.1)
    assert seen_while_running
    run.wait_for_completion(timeout=60)
    assert "last line" in run.get_log()


def test_failed_run_raises_with_exit_code_and_tail(workspace, script_dir) -> None:  # type: ignore[no-untyped-def]
    src = script_dir({"bad.py": "import sys\nprint('about to fail')\nsys.exit(3)\n"})
    run = _exp(workspace, "runs-fail").submit(
        ScriptRunConfig(source_directory=src, script="bad.py"))
    with pytest.raises(RunError) as exc:
        run.wait_for_completion(timeout=60)
    assert exc.value.exit_code == 3
    assert "about to fail" in exc.value.log_tail
    assert run.get_status() == "Failed"
    assert "exited with code 3" in run.get_details()["error"]["message"]


def test_wrong_metric_type_in_script_fails_run(workspace, script_dir) -> None:  # type: ignore[no-untyped-def]
    src = script_dir({"m.py": "from cumulus import Run\nRun.get_context().log('x', {'a': 1})\n"})
    run = _exp(workspace, "runs-badmetric").submit(
        ScriptRunConfig(source_directory=src, script="m.py"))
    details = run.wait_for_completion(raise_on_error=False, timeout=60)
    assert details["status"] == "Failed"
    assert "must be a number" in run.get_log()


def test_cancel_stops_process_tree(workspace, script_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    pidfile = tmp_path / "child.pid"
    src = script_dir({"long.py": (
        "import subprocess, sys, time\n"
        "p = subprocess.Popen(['sleep', '300'])\n"
        f"open({str(pidfile)!r}, 'w').write(str(p.pid))\n"
        "print('started', flush=True)\n"
        "time.sleep(300)\n")})
    run = _exp(workspace, "runs-cancel").submit(
        ScriptRunConfig(source_directory=src, script="long.py"))
    deadline = time.monotonic() + 60
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pidfile.exists(), run.get_log()
    run.cancel()
    details = run.wait_for_completion(raise_on_error=False, timeout=60)
    assert details["status"] == "Canceled"
    grandchild = int(pidfile.read_text())
    time.sleep(0.5)
    assert not _alive(grandchild)


def test_cancel_queued_run_never_starts(workspace, script_dir) -> None:  # type: ignore[no-untyped-def]
    from cumulus.tasks.cancel import cancel_run

    src = script_dir({"t.py": "print('ran')\n"})
    exp = _exp(workspace, "runs-cancel-queued")
    run = exp.submit(ScriptRunConfig(source_directory=src, script="t.py"))
    status = cancel_run(workspace.store, run.id)
    details = run.wait_for_completion(raise_on_error=False, timeout=60)
    assert details["status"] == "Canceled"
    if status == "Canceled":  # canceled while still queued: the script never ran
        assert "ran" not in run.get_log()


def test_max_run_duration(workspace, script_dir) -> None:  # type: ignore[no-untyped-def]
    src = script_dir({"s.py": "import time\ntime.sleep(60)\n"})
    run = _exp(workspace, "runs-timeout").submit(
        ScriptRunConfig(source_directory=src, script="s.py", max_run_duration_seconds=1))
    details = run.wait_for_completion(raise_on_error=False, timeout=60)
    assert details["status"] == "Failed"
    assert "max_run_duration_seconds" in details["error"]["message"]


def test_arguments_and_env(workspace, script_dir) -> None:  # type: ignore[no-untyped-def]
    src = script_dir({"a.py": "import sys, os\nprint('ARGS', sys.argv[1:])\n"
                              "print('ENV', os.environ['MY_VAR'])\n"})
    run = _exp(workspace, "runs-args").submit(ScriptRunConfig(
        source_directory=src, script="a.py", arguments=["--n", 3, 0.5, True, Path("x/y")],
        environment_variables={"MY_VAR": "hello"}))
    run.wait_for_completion(timeout=60)
    log = run.get_log()
    assert "ARGS ['--n', '3', '0.5', 'True', 'x/y']" in log and "ENV hello" in log


# bad input: refused before anything is queued -------------------------------------------
def _count_runs(workspace) -> int:  # type: ignore[no-untyped-def]
    return len(workspace.store.list_runs())


def test_missing_script(workspace, script_dir) -> None:  # type: ignore[no-untyped-def]
    src = script_dir({"train.py": ""})
    before = _count_runs(workspace)
    with pytest.raises(ValidationError, match="Did you mean 'train.py'"):
        _exp(workspace, "bad").submit(ScriptRunConfig(source_directory=src, script="trian.py"))
    assert _count_runs(workspace) == before


def test_missing_source_directory(workspace, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match="does not exist"):
        _exp(workspace, "bad").submit(
            ScriptRunConfig(source_directory=tmp_path / "nope", script="t.py"))


def test_unknown_compute_target(workspace, script_dir) -> None:  # type: ignore[no-untyped-def]
    src = script_dir({"t.py": ""})
    before = _count_runs(workspace)
    with pytest.raises(ComputeTargetNotFoundError, match="Did you mean 'local'"):
        _exp(workspace, "bad").submit(
            ScriptRunConfig(source_directory=src, script="t.py", compute_target="locl"))
    assert _count_runs(workspace) == before


@pytest.mark.parametrize("arg", [{"a": 1}, [1, 2], None, object(), "a\x00b"])
def test_argument_not_passable(workspace, script_dir, arg) -> None:  # type: ignore[no-untyped-def]
    src = script_dir({"t.py": ""})
    with pytest.raises(ValidationError, match="cannot be passed on a command line|NUL"):
        _exp(workspace, "bad").submit(
            ScriptRunConfig(source_directory=src, script="t.py", arguments=["--x", arg]))


def test_snapshot_too_large_refused(workspace, script_dir, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from cumulus import snapshot

    monkeypatch.setattr(snapshot, "MAX_FILES", 2)
    src = script_dir({"t.py": "", "a.txt": "", "b.txt": ""})
    before = _count_runs(workspace)
    with pytest.raises(SnapshotError, match="too large"):
        _exp(workspace, "bad").submit(ScriptRunConfig(source_directory=src, script="t.py"))
    assert _count_runs(workspace) == before


def test_unknown_run_id(workspace) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RunNotFoundError, match="cumulus runs list"):
        Run(_exp(workspace, "x"), "no-such-run")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


def test_a_run_with_nothing_to_upload_gives_its_node_back_before_its_task_returns(
        workspace, script_dir) -> None:  # type: ignore[no-untyped-def]
    from cumulus.compute import ComputeTarget
    from cumulus.compute._base import run_key
    from cumulus.tasks._node import ROOM_TOPIC

    exp = _exp(workspace, "runs-room")
    quick = exp.submit(ScriptRunConfig(source_directory=script_dir({"q.py": "print(1)\n"}),
                                       script="q.py"))
    outputs = exp.submit(ScriptRunConfig(
        source_directory=script_dir({"o.py": "open('outputs/x.txt', 'w').write('x')\n"}),
        script="o.py"))
    failing = exp.submit(ScriptRunConfig(source_directory=script_dir({"f.py": "exit(3)\n"}),
                                         script="f.py"))
    for run in (quick, outputs, failing):
        run.wait_for_completion(raise_on_error=False)
    assert (quick.get_status(), outputs.get_status(), failing.get_status()) == \
        ("Completed", "Completed", "Failed")
    client = ComputeTarget(workspace, "local").backend.client()
    keys = {msg["key"] for _, msg in client.get_events(ROOM_TOPIC)}
    assert run_key(quick.id) in keys           # only its final write was left
    assert run_key(outputs.id) not in keys     # its outputs go up first
    assert run_key(failing.id) not in keys
    assert "outputs/x.txt" in outputs.get_file_names()


def test_an_attempt_whose_run_a_later_attempt_took_stops_and_records_nothing(
        workspace, script_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A node taken for lost while it still runs (its connection broke; it was stopped while
    its run started): the run starts again elsewhere as attempt 2. The stale attempt must stop
    its script and write no status over the later attempt's."""
    marker = tmp_path / "pid"
    script = f"import os, time\nopen({str(marker)!r}, 'w').write(str(os.getpid()))\n" \
             "time.sleep(120)\n"
    run = _exp(workspace, "runs-superseded").submit(ScriptRunConfig(
        source_directory=script_dir({"s.py": script}), script="s.py"))
    store = workspace.store
    deadline = time.monotonic() + 60
    while not (marker.exists() and marker.read_text() and run.get_status() == "Running"):
        assert time.monotonic() < deadline, run.get_status()
        time.sleep(0.05)
    pid = int(marker.read_text())
    # what an executor that found the run Running does when it gets the run's task again
    store.transition(run.id, "Queued", expected=["Running"], attempt=2,
                     reason="requeued: node lost while Running (attempt 2)")
    try:
        deadline = time.monotonic() + 15
        while _alive(pid) or "attempt 1 stopped" not in run.get_log():
            assert time.monotonic() < deadline, (_alive(pid), run.get_log())
            time.sleep(0.05)
        time.sleep(0.5)   # whatever the stale attempt would still write
        rec = store.get_run(run.id)
        assert (rec["status"], rec["attempt"]) == ("Queued", 2)
        assert [e["to_status"] for e in store.status_events(run.id)][-1] == "Queued"
    finally:
        store.try_transition(run.id, "Canceled", reason="test over")
