"""Nothing stuck: a run recorded Queued whose task never reached the cluster (its client died
between the two) is noticed by the target's manager and run."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration]


def test_a_run_whose_submitter_died_before_handing_it_over_is_run(
        tmp_path: Path, script_dir, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from cumulus import ComputeTarget, Experiment, ScriptRunConfig, Workspace
    from cumulus.compute._target import ComputeTarget as Target

    monkeypatch.setenv("CUMULUS_RECONCILE_GRACE", "1")   # inherited by the manager
    ws = Workspace.create("orphans", path=tmp_path,
                          local_compute={"min_nodes": 1, "max_nodes": 1})
    target = ComputeTarget(ws, "local")
    try:
        target.wait_for_completion(timeout_in_minutes=2)
        src = script_dir({"hi.py": "print('ran after all')\n"})
        with monkeypatch.context() as m:   # the client "dies" after recording the run
            m.setattr(Target, "submit_run", lambda *a, **k: None)
            run = Experiment(ws, "orphans").submit(
                ScriptRunConfig(source_directory=str(src), script="hi.py"))
        assert run.get_status() == "Queued"
        details = run.wait_for_completion(timeout=90)
        assert details["status"] == "Completed"
        assert "ran after all" in run.get_log()
        log = Path(target.get_status().log or "").read_text()
        assert f"run {run.id} is Queued with no task on the cluster" in log
    finally:
        target.backend.stop()


def test_a_dead_manager_is_restarted_by_doctor_and_its_run_completes(
        tmp_path: Path, script_dir) -> None:  # type: ignore[no-untyped-def]
    import os
    import signal
    import subprocess
    import sys
    import time

    from cumulus import ComputeTarget, Experiment, ScriptRunConfig, Workspace

    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo / "src")}

    def doctor() -> str:
        return subprocess.run([sys.executable, "-m", "cumulus", "doctor"], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=120).stdout

    ws = Workspace.create("dead-manager", path=tmp_path,
                          local_compute={"min_nodes": 1, "max_nodes": 1})
    target = ComputeTarget(ws, "local")
    try:
        target.wait_for_completion(timeout_in_minutes=2)
        assert "Everything that should run runs." in doctor()
        src = script_dir({"slow.py": "import time\nprint('start', flush=True)\n"
                                     "time.sleep(4)\nprint('end')\n"})
        run = Experiment(ws, "dead-manager").submit(
            ScriptRunConfig(source_directory=str(src), script="slow.py"))
        deadline = time.monotonic() + 60
        while run.get_status() != "Running" and time.monotonic() < deadline:
            time.sleep(0.2)
        pid = target.get_status().manager["pid"]
        os.killpg(pid, signal.SIGKILL)      # the manager, its workers and the script
        out = doctor()
        assert "compute local: its manager was down with 1 active run(s)" in out, out
        details = run.wait_for_completion(timeout=120)
        assert details["status"] == "Completed" and details["attempt"] == 2
        assert "end" in run.get_log()
    finally:
        target.backend.stop()


def test_a_manager_whose_workspace_was_deleted_stops(tmp_path: Path) -> None:
    import shutil

    import psutil

    from cumulus import ComputeTarget, Workspace

    ws = Workspace.create("gone", path=tmp_path / "ws",
                          local_compute={"min_nodes": 1, "max_nodes": 1})
    target = ComputeTarget(ws, "local")
    target.wait_for_completion(timeout_in_minutes=2)
    pid = int(ws.store.computes.get("local")["state"]["pid"])
    proc = psutil.Process(pid)
    workers = proc.children(recursive=True)
    assert workers, "a kept node runs as the manager's child processes"
    shutil.rmtree(tmp_path / "ws")
    try:
        proc.wait(timeout=60)       # it notices within a report interval and shuts down
    except psutil.TimeoutExpired:
        proc.kill()
        raise AssertionError("the manager kept running after its workspace was deleted") \
            from None
    _, alive = psutil.wait_procs(workers, timeout=30)
    for p in alive:
        p.kill()
    assert not alive, f"nodes left behind: {[p.pid for p in alive]}"


def test_an_idle_manager_exits_and_the_next_use_starts_it_again(
        tmp_path: Path, script_dir, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import time

    import psutil

    from cumulus import ComputeTarget, Experiment, ScriptRunConfig, Workspace

    monkeypatch.setenv("CUMULUS_MANAGER_IDLE_EXIT", "3")     # inherited by the manager
    ws = Workspace.create("idle", path=tmp_path / "ws",
                          local_compute={"min_nodes": 0, "max_nodes": 1,
                                         "idle_seconds_before_scaledown": 1})
    target = ComputeTarget(ws, "local")
    try:
        target.wait_for_completion(timeout_in_minutes=2)
        pid = int(ws.store.computes.get("local")["state"]["pid"])
        psutil.Process(pid).wait(timeout=60)                    # gone by itself
        status = target.get_status()
        assert status.provisioning_state == "Stopped" and not status.errors
        log = Path(status.log or "").read_text()
        assert "no node and no work for 3 s; stopping" in log
        src = script_dir({"hi.py": "print('back again')\n"})
        started = time.monotonic()
        run = Experiment(ws, "idle").submit(ScriptRunConfig(source_directory=str(src),
                                                            script="hi.py"))
        assert run.wait_for_completion(timeout=120)["status"] == "Completed"
        assert "back again" in run.get_log() and time.monotonic() - started < 60
    finally:
        target.backend.stop()
