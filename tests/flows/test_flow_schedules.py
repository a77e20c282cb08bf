"""Schedules and published pipelines against a real Prefect server and the serve loop.

One serve loop (the same code as `cumulus schedule serve`, hosting Prefect's Runner) runs in a
thread for the module; the Runner executes each flow run in its own `prefect.engine` process.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from flow_helpers import (
    prefect_get,
    prefect_post,
    prefect_request,
    put_text,
    unique,
    wait_until,
)

from cumulus.flows import Output, PublishedPipeline, Schedule, pipeline, step

pytestmark = pytest.mark.integration


@step
def note(out: Output, *, tag: str = "x", trigger: dict | None = None) -> None:
    Path(out, "note.txt").write_text(tag)


@pipeline(name="flows-scheduled")
def scheduled(tag: str = "x"):  # type: ignore[no-untyped-def]
    note(tag=tag)


@pytest.fixture(scope="module")
def serving(flows_ws):  # type: ignore[no-untyped-def]
    from cumulus.flows._serve import serve

    stop = threading.Event()
    lines: list[str] = []
    thread = threading.Thread(target=serve, args=(flows_ws,), daemon=True,
                              kwargs={"stop": stop, "poll_interval": 0.5, "sync_interval": 1.0,
                                      "out": lines.append})
    thread.start()
    yield lines
    stop.set()
    thread.join(timeout=30)


@step
def hold(marker_dir: str, out: Output) -> None:
    import time

    Path(marker_dir, "started").write_text("started")
    for _ in range(1800):
        if Path(marker_dir, "release").exists():
            break
        time.sleep(0.1)
    Path(out, "x.txt").write_text("released")


@pipeline(name="flows-held")
def held(marker_dir: str = ""):  # type: ignore[no-untyped-def]
    hold(marker_dir=marker_dir)


def _trigger(prefect_api, deployment, marker_dir):  # type: ignore[no-untyped-def]
    """Create a flow run of ``deployment`` over Prefect's REST API; its id."""
    resp = prefect_post(f"{prefect_api}/deployments/{deployment}/create_flow_run", {
        "parameters": {"pipeline_parameters": {"marker_dir": str(marker_dir)}}})
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


def _trigger_held(flows_ws, prefect_api, tmp_path):  # type: ignore[no-untyped-def]
    """Publish ``held``, trigger it over Prefect's REST API; (pipeline run, flow run id,
    published pipeline) once its step has started."""
    from cumulus.flows._agent import ensure_agent

    ensure_agent(flows_ws)   # alive, as after any submit: it must leave these runs alone
    name = unique("held")
    pub = held.publish(flows_ws, name, experiment="flows-held")
    deployment = wait_until(lambda: PublishedPipeline.get(flows_ws, name).deployment_id,
                            what="the published pipeline's Prefect deployment")
    flow_run = _trigger(prefect_api, deployment, tmp_path)
    wait_until(lambda: Path(tmp_path, "started").exists(), timeout=180,
               what="the held step to start")
    run = wait_until(lambda: [r for r in flows_ws.store.list_runs(kind="pipeline")
                              if (r["properties"] or {}).get("prefect_flow_run_id") == flow_run],
                     what="the pipeline run of the flow run")[0]
    return run, flow_run, pub


def _step_runs(flows_ws, run_id):  # type: ignore[no-untyped-def]
    return flows_ws.store.list_runs(parent_id=run_id)


def test_a_flow_run_cancelled_in_prefect_cancels_its_pipeline_run_and_steps(  # type: ignore[no-untyped-def]
        flows_ws, prefect_api, serving, tmp_path) -> None:
    run, flow_run, pub = _trigger_held(flows_ws, prefect_api, tmp_path)
    assert prefect_get(f"{prefect_api}/flow_runs/{flow_run}")["name"] == run["id"]
    resp = prefect_post(f"{prefect_api}/flow_runs/{flow_run}/set_state", {
        "state": {"type": "CANCELLING", "name": "Cancelling"}, "force": True})
    assert resp.status_code in (200, 201), resp.text
    wait_until(lambda: flows_ws.store.get_status(run["id"]) == "Canceled",
               what="the pipeline run to be Canceled")
    assert [s["status"] for s in _step_runs(flows_ws, run["id"])] == ["Canceled"]
    wait_until(lambda: prefect_get(f"{prefect_api}/flow_runs/{flow_run}")["state"]["type"]
               == "CANCELLED", what="the flow run to be Cancelled")
    reasons = [e["reason"] for e in flows_ws.store.status_events(run["id"])]
    assert reasons[0].startswith(f"triggered by published_pipeline {pub.name}"), reasons
    assert not any("agent" in (r or "") for r in reasons), reasons
    pub.delete()


def test_a_killed_flow_run_process_fails_its_pipeline_run(  # type: ignore[no-untyped-def]
        flows_ws, prefect_api, serving, tmp_path) -> None:
    import psutil

    run, flow_run, pub = _trigger_held(flows_ws, prefect_api, tmp_path)
    engines = [p for p in psutil.Process().children(recursive=True)
               if "prefect.engine" in " ".join(p.cmdline())
               and p.environ().get("PREFECT__FLOW_RUN_ID") == flow_run]
    assert len(engines) == 1, engines
    engines[0].kill()
    wait_until(lambda: flows_ws.store.get_status(run["id"]) == "Failed", timeout=60,
               what="the orphaned pipeline run to be marked Failed\n" + "\n".join(serving))
    reason = flows_ws.store.get_run(run["id"])["error"]["message"]
    assert f"Prefect flow run {flow_run} ended crashed" in reason, reason
    wait_until(lambda: [s["status"] for s in _step_runs(flows_ws, run["id"])] == ["Canceled"],
               what="its step run to be canceled")
    pub.delete()


def _completed_runs(runs):  # type: ignore[no-untyped-def]
    return [r for r in runs if r.get_status() == "Completed"]


def test_an_interval_schedule_fires_and_can_be_disabled(flows_ws, prefect_api, serving) -> None:  # type: ignore[no-untyped-def]
    name = unique("every2s")
    sched = Schedule.create(flows_ws, name, pipeline=scheduled, interval=2,
                            parameters={"tag": "tick"}, experiment="flows-scheduled")
    assert sched.kind == "interval" and sched.enabled
    deployment = wait_until(lambda: Schedule.get(flows_ws, name).deployment_id,
                            what="the schedule's Prefect deployment")
    runs = wait_until(lambda: _completed_runs(sched.get_runs()), timeout=240,
                      what=f"a completed run of schedule {name}\n" + "\n".join(serving))
    props = runs[0].get_properties()
    assert props["schedule"] == name and runs[0].get_details()["params"] == {"tag": "tick"}
    url = f"{prefect_api}/flow_runs/{props['prefect_flow_run_id']}"
    assert prefect_get(url)["deployment_id"] == deployment
    wait_until(lambda: prefect_get(url)["state"]["type"] == "COMPLETED",
               what="the Prefect flow run to complete")
    sched = Schedule.get(flows_ws, name)

    sched.disable()
    assert not Schedule.get(flows_ws, name).enabled
    dep_url = f"{prefect_api}/deployments/{deployment}"
    wait_until(lambda: prefect_get(dep_url)["paused"], what="the deployment to pause")
    sched.delete()
    assert name not in [s.name for s in Schedule.list(flows_ws)]
    wait_until(lambda: prefect_request("GET", dep_url).status_code == 404,
               what="the deployment to go")


def test_a_deployment_deleted_in_prefect_is_registered_again(  # type: ignore[no-untyped-def]
        flows_ws, prefect_api, serving) -> None:
    name = unique("healed")
    sched = Schedule.create(flows_ws, name, pipeline=scheduled, cron="0 3 * * *")
    try:
        first = wait_until(lambda: Schedule.get(flows_ws, name).deployment_id,
                           what="the schedule's Prefect deployment")
        assert prefect_request("DELETE", f"{prefect_api}/deployments/{first}").status_code == 204
        second = wait_until(lambda: (Schedule.get(flows_ws, name).deployment_id or first)
                            != first and Schedule.get(flows_ws, name).deployment_id,
                            what="the deployment to be registered again\n" + "\n".join(serving))
        assert prefect_request("GET", f"{prefect_api}/deployments/{second}").status_code == 200
    finally:
        sched.delete()


def test_a_new_file_triggers_exactly_one_run(flows_ws, serving) -> None:  # type: ignore[no-untyped-def]
    ds = flows_ws.get_default_datastore()
    folder = unique("incoming")
    put_text(ds, f"{folder}/old.csv", "already there")
    name = unique("on-data")
    Schedule.create(flows_ws, name, pipeline=scheduled, datastore=ds,
                    path_on_datastore=f"{folder}/", polling_interval=1,
                    experiment="flows-scheduled")
    sched = Schedule.get(flows_ws, name)
    wait_until(lambda: Schedule.get(flows_ws, name).state.get("polls", 0) >= 2,
               what="the datastore schedule to be polled")
    assert sched.get_runs() == []  # the files present at creation trigger nothing

    put_text(ds, f"{folder}/new.csv", "1,2,3")
    runs = wait_until(lambda: _completed_runs(sched.get_runs()), timeout=240,
                      what="the run triggered by new.csv")
    trigger = runs[0].get_properties()["trigger"]
    assert trigger["added"] == ["new.csv"] and trigger["changed"] == []
    polls = Schedule.get(flows_ws, name).state["polls"]
    wait_until(lambda: Schedule.get(flows_ws, name).state["polls"] >= polls + 3,
               what="three more polls")
    assert len(sched.get_runs()) == 1  # one batch of changes, one run
    sched.delete()


def test_a_published_pipeline_runs_over_prefects_rest_api(flows_ws, prefect_api, serving) -> None:  # type: ignore[no-untyped-def]
    name = unique("pub")
    pub = scheduled.publish(flows_ws, name, experiment="flows-published",
                            parameters={"tag": "default"})
    assert PublishedPipeline.get(flows_ws, name).version == 1
    deployment = wait_until(lambda: PublishedPipeline.get(flows_ws, name).deployment_id,
                            what="the published pipeline's Prefect deployment")
    resp = prefect_post(f"{prefect_api}/deployments/{deployment}/create_flow_run",
                        {"parameters": {"pipeline_parameters": {"tag": "from-rest"}}})
    assert resp.status_code == 201, resp.text

    def finished():  # type: ignore[no-untyped-def]
        runs = [r for r in flows_ws.store.list_runs(kind="pipeline", status="Completed")
                if (r["properties"] or {}).get("published_pipeline") == name]
        return runs

    runs = wait_until(finished, timeout=240, what="the REST-triggered run")
    assert runs[0]["params"] == {"tag": "from-rest"}
    assert runs[0]["properties"]["prefect_flow_run_id"] == resp.json()["id"]

    direct = pub.submit(pipeline_parameters={"tag": "direct"})
    assert direct.wait_for_completion(timeout=120)["params"] == {"tag": "direct"}
    assert direct.experiment.name == "flows-published"
    pub.delete()


@step
def stamp_time(out: Output, *, scheduled_time: str = "") -> None:
    Path(out, "when.txt").write_text(scheduled_time)


@pipeline(name="flows-backfilled")
def backfilled(scheduled_time: str = ""):  # type: ignore[no-untyped-def]
    stamp_time(scheduled_time=scheduled_time)


def test_a_cron_schedule_is_backfilled_one_run_per_due_time(flows_ws) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys
    from datetime import datetime, timezone

    from cumulus.errors import PipelineError

    name = unique("backfill")
    sched = Schedule.create(flows_ws, name, pipeline=backfilled, cron="0 */6 * * *")
    try:
        start = datetime(2026, 11, 1, tzinfo=timezone.utc)
        day = sched.backfill_times(start, datetime(2026, 11, 2, tzinfo=timezone.utc))
        assert [t.hour for t in day] == [0, 6, 12, 18]
        with pytest.raises(PipelineError, match=r"makes 1,460 runs, more than 1000; pass yes"):
            sched.backfill(start, datetime(2027, 11, 1, tzinfo=timezone.utc))
        with pytest.raises(PipelineError, match="ends .* before it starts"):
            sched.backfill(start, datetime(2026, 10, 1, tzinfo=timezone.utc))
        runs = sched.backfill(start, datetime(2026, 11, 1, 12, tzinfo=timezone.utc))
        assert [r.get_properties()["scheduled_time"] for r in runs] == [
            "2026-11-01T00:00:00+00:00", "2026-11-01T06:00:00+00:00"]
        for run in runs:
            assert run.wait_for_completion(timeout=180)["status"] == "Completed"
            assert run.get_details()["params"]["scheduled_time"] == \
                run.get_properties()["scheduled_time"]
        proc = subprocess.run(
            [sys.executable, "-m", "cumulus", "schedule", "backfill", name, "--start",
             "2026-11-01", "--end", "2026-11-03", "--dry-run"], cwd=flows_ws.root,
            capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert "was due 8 time(s)" in proc.stdout
    finally:
        sched.delete()


def test_sigterm_to_schedule_serve_cancels_the_flow_runs_in_flight(  # type: ignore[no-untyped-def]
        prefect_api, tmp_path) -> None:
    """`cumulus schedule serve --limit 1` under systemd or `kill`: a second flow run waits for
    the first's slot; SIGTERM stops serve like Ctrl-C, and Prefect's Runner cancels the flow
    run it started (its pipeline run ends Canceled, not orphaned)."""
    import signal
    import subprocess
    import sys
    import time

    from cumulus import Workspace
    from cumulus.services import stop_services

    ws = Workspace.create("sigterm", path=tmp_path / "ws")   # its own runner: no other serves it
    markers, second = tmp_path / "markers", tmp_path / "second"
    markers.mkdir()
    second.mkdir()
    pub = held.publish(ws, "held-term", experiment="flows-held")
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "cumulus", "schedule", "serve",
                                 "--limit", "1"],
                                cwd=ws.root, stdout=out, stderr=subprocess.STDOUT)
    try:
        deployment = wait_until(lambda: f"{pub.name}: deployment" in log.read_text() and
                                PublishedPipeline.get(ws, "held-term").deployment_id,
                                what="serve to add the deployment to its runner")
        flow_run = _trigger(prefect_api, deployment, markers)
        wait_until(lambda: Path(markers, "started").exists(), timeout=180,
                   what="the held step to start\n" + log.read_text())
        waiting = _trigger(prefect_api, deployment, second)
        time.sleep(4)       # four of the runner's polls: the one slot is taken
        assert prefect_get(f"{prefect_api}/flow_runs/{waiting}")["state"]["type"] \
            == "SCHEDULED"
        assert not Path(second, "started").exists()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=90) is not None
        run = next(r for r in ws.store.list_runs(kind="pipeline")
                   if (r["properties"] or {}).get("prefect_flow_run_id") == flow_run)
        assert ws.store.get_status(run["id"]) == "Canceled", log.read_text()
        assert [s["status"] for s in _step_runs(ws, run["id"])] == ["Canceled"]
        state = prefect_get(f"{prefect_api}/flow_runs/{flow_run}")["state"]["type"]
        assert state == "CANCELLED", state
    finally:
        if proc.poll() is None:
            proc.kill()
        pub.delete()
        stop_services(ws, kinds=["compute", "pipeline-agent"])
