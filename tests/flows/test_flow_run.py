"""Pipelines end to end: a real Prefect server, the pipeline agent, the warm local target.

Step runs are children of the pipeline run, run on Dask workers as subprocesses, and are
reused (or not) for the recorded reasons.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from flow_helpers import prefect_get, prefect_post, put_text, read_text, unique, wait_until

from cumulus import Experiment, Run
from cumulus.datastores import DataPath
from cumulus.flows import Input, Output, PipelineRun, StepKind, pipeline, step

pytestmark = pytest.mark.integration


@step
def prep(raw: Input, clean: Output, *, scale: float = 1.0) -> int:
    values = [float(v) * scale for v in Path(raw).read_text().split()]
    Path(clean, "values.txt").write_text("\n".join(str(v) for v in values))
    Run.get_context().log("count", len(values))
    return len(values)


@step
def total(data: Input, result: Output) -> dict:
    import os
    import sys

    s = sum(float(v) for v in Path(data, "values.txt").read_text().split())
    Path(result, "sum.txt").write_text(str(s))
    Run.get_context().log("sum", s)
    return {"api": os.environ.get("PREFECT_API_URL"), "prefect": "prefect" in sys.modules}


@step(allow_reuse=False)
def stamp(result: Input, stamped: Output) -> None:
    Path(stamped, "stamp.txt").write_text(Path(result, "sum.txt").read_text() + "!")


@pipeline(name="flows-basic")
def basic(raw: str, scale: float = 1.0):  # type: ignore[no-untyped-def]
    clean = prep(raw=DataPath("workspacestore", raw), scale=scale)
    result = total(data=clean)
    stamp(result=result)
    return {"sum": result}


def _steps(prun: PipelineRun) -> dict[str, Run]:
    return {r.display_name or "": r for r in prun.get_steps()}


def _reason(run: Run) -> str:
    return str(run.get_properties()["reason"])


def _submit_and_wait(exp: Experiment, **kwargs):  # type: ignore[no-untyped-def]
    prun = exp.submit(basic, **kwargs)
    assert isinstance(prun, PipelineRun)
    out = io.StringIO()
    details = prun.wait_for_completion(show_output=True, stream=out, timeout=180,
                                       raise_on_error=False)
    assert details["status"] == "Completed", out.getvalue()
    return prun, out.getvalue()


def test_steps_are_child_runs_and_reuse_follows_content(flows_ws, prefect_api) -> None:  # type: ignore[no-untyped-def]
    ds = flows_ws.get_default_datastore()
    raw = f"{unique('raw')}/numbers.txt"
    put_text(ds, raw, "1 2 3")
    exp = Experiment(flows_ws, "flows-basic")

    first, log = _submit_and_wait(exp, pipeline_parameters={"raw": raw, "scale": 2.0})
    assert first.kind == "pipeline" and first.get_details()["params"] == {"raw": raw,
                                                                            "scale": 2.0}
    assert "prep: running as run" in log and "pipeline Completed" in log  # step progress
    steps = _steps(first)
    assert set(steps) == {"prep", "total", "stamp"}
    assert all(r.kind == "step" and r.parent == first for r in steps.values())
    assert all(_reason(r) == "no earlier run with this key" for r in
               (steps["prep"], steps["total"]))
    assert steps["prep"].get_metrics()["count"] == 3
    assert steps["prep"].get_properties()["return_value"] == 3
    assert steps["total"].get_metrics()["sum"] == 12.0
    # the step ran on a Dask worker that never talks to Prefect
    assert steps["total"].get_properties()["return_value"] == {"api": None, "prefect": False}
    out = first.get_outputs()["sum"]
    assert read_text(ds, f"{out.path_on_datastore}/sum.txt") == "12.0"
    assert out.path_on_datastore == f"pipelines/{first.id}/total/result"

    flow_run_id = first.get_properties()["prefect_flow_run_id"]
    fr = wait_until(lambda: (f := prefect_get(f"{prefect_api}/flow_runs/{flow_run_id}"))
                    ["state"]["type"] == "COMPLETED" and f, what="the Prefect flow run")
    assert fr["name"] == first.id and fr["flow_id"]
    tasks = prefect_post(f"{prefect_api}/task_runs/filter",
                         {"flow_runs": {"id": {"any_": [flow_run_id]}}}).json()
    assert sorted(t["name"] for t in tasks) == ["prep", "stamp", "total"]
    links = prefect_post(f"{prefect_api}/artifacts/filter",
                         {"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}}).json()
    by_task = {t["id"]: t["name"] for t in tasks}      # each step's task run links its run
    linked = {by_task[a["task_run_id"]]: a["data"] for a in links if a["type"] == "markdown"
              or a["type"] == "link"}
    assert set(linked) == {"prep", "stamp", "total"}, links
    assert f"#/runs/{steps['prep'].id}" in linked["prep"]

    second, _ = _submit_and_wait(exp, pipeline_parameters={"raw": raw, "scale": 2.0})
    again = _steps(second)
    assert _reason(again["prep"]) == f"reused run {steps['prep'].id}"
    assert again["total"].get_properties()["reused_run"] == steps["total"].id
    assert _reason(again["stamp"]) == "allow_reuse=False"
    assert again["stamp"].get_status() == "Completed"
    assert second.get_outputs()["sum"] == out  # the earlier outputs, not copies

    before = ds.fs.info(ds.full_path(raw))["mtime"]
    put_text(ds, raw, "1 2 3")      # the same bytes copied in again: a new mtime only
    assert ds.fs.info(ds.full_path(raw))["mtime"] != before
    same, _ = _submit_and_wait(exp, pipeline_parameters={"raw": raw, "scale": 2.0})
    assert _reason(_steps(same)["prep"]) == f"reused run {steps['prep'].id}"

    put_text(ds, raw, "1 2 3 4")
    third, _ = _submit_and_wait(exp, pipeline_parameters={"raw": raw, "scale": 2.0})
    changed = _steps(third)
    assert _reason(changed["prep"]).startswith("input raw changed: ")
    assert _reason(changed["total"]).startswith("input data changed: ")
    assert changed["total"].get_metrics()["sum"] == 20.0

    fourth, _ = _submit_and_wait(exp, pipeline_parameters={"raw": raw, "scale": 2.0},
                                 regenerate_outputs=True)
    assert {_reason(r) for r in fourth.get_steps()} == {"regenerate_outputs=True"}


@step
def meet(marker_dir: str, me: str, other: str, done: Output) -> None:
    """Write my marker, then wait for the other step's: only passes if both run at once."""
    import time

    Path(marker_dir, me).write_text("here")
    deadline = time.time() + 90
    while not Path(marker_dir, other).exists():
        if time.time() > deadline:
            raise SystemExit(f"{other} never ran while {me} was running")
        time.sleep(0.05)
    Path(done, "ok.txt").write_text(me)


@pipeline(name="flows-concurrent")
def concurrent(marker_dir: str):  # type: ignore[no-untyped-def]
    meet(marker_dir=marker_dir, me="a", other="b")
    meet(marker_dir=marker_dir, me="b", other="a")


def test_independent_steps_run_at_the_same_time(flows_ws, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from cumulus.compute import ComputeTarget
    from cumulus.tasks.executor import children_topic

    prun = Experiment(flows_ws, "flows-concurrent").submit(
        concurrent, pipeline_parameters={"marker_dir": str(tmp_path)})
    # the steps announce their end on the pipeline run's topic: what its watcher wakes on
    ended: list[str] = []
    client = ComputeTarget(flows_ws, "local").backend.client()
    client.subscribe_topic(children_topic(prun.id),
                           lambda event: ended.append(event[1]["run"]) if
                           event[1].get("what") == "end" else None)
    details = prun.wait_for_completion(timeout=180, raise_on_error=False)
    client.unsubscribe_topic(children_topic(prun.id))
    assert details["status"] == "Completed", prun.get_log()
    steps = prun.get_steps()
    assert sorted(r.display_name for r in steps) == ["meet", "meet_2"]
    assert set(ended) == {r.id for r in steps}, (
        [(r.id, r.get_details()["parentRunId"], r.get_details()["statusHistory"])
         for r in steps], prun.get_log())


@step(retries=2, retry_delay_seconds=0.2, retry_backoff=1.0)
def flaky(counter: str, out: Output) -> None:
    attempts = Path(counter)
    n = int(attempts.read_text()) + 1 if attempts.exists() else 1
    attempts.write_text(str(n))
    if n == 1:
        raise RuntimeError("first attempt fails on purpose")
    Path(out, "ok.txt").write_text(str(n))


@pipeline(name="flows-retry")
def retrying(counter: str):  # type: ignore[no-untyped-def]
    flaky(counter=counter)


def test_a_failed_step_is_retried_as_a_new_child_run(flows_ws, tmp_path) -> None:  # type: ignore[no-untyped-def]
    prun = Experiment(flows_ws, "flows-retry").submit(
        retrying, pipeline_parameters={"counter": str(tmp_path / "n.txt")})
    details = prun.wait_for_completion(timeout=180, raise_on_error=False)
    assert details["status"] == "Completed", prun.get_log()
    attempts = prun.find_step_run("flaky")
    assert [r.get_status() for r in attempts] == ["Failed", "Completed"]
    assert [r.get_properties()["attempt"] for r in attempts] == [1, 2]
    assert "first attempt fails on purpose" in attempts[0].get_log()


@step
def wait_for(marker_dir: str, me: str, out: Output) -> None:
    import time

    Path(marker_dir, me).write_text("started")
    for _ in range(1200):
        if Path(marker_dir, "release").exists():
            break
        time.sleep(0.1)
    Path(out, "x.txt").write_text(me)


@step
def fail_after(marker_dir: str, other: str, out: Output) -> None:
    import time

    while not Path(marker_dir, other).exists():
        time.sleep(0.05)
    raise RuntimeError("this step fails")


@step
def after(data: Input, out: Output) -> None:
    Path(out, "y.txt").write_text("never")


@step
def quick(out: Output) -> None:
    Path(out, "q.txt").write_text("done")


@pipeline(name="flows-failing")
def failing(marker_dir: str):  # type: ignore[no-untyped-def]
    wait_for(marker_dir=marker_dir, me="slow")
    broken = fail_after(marker_dir=marker_dir, other="slow")
    after(data=broken)


@pipeline(name="flows-continue", continue_on_step_failure=True)
def continuing(marker_dir: str):  # type: ignore[no-untyped-def]
    quick_out = quick()
    broken = fail_after(marker_dir=marker_dir, other="go", run_after=quick_out)
    after(data=broken)
    quick.with_options(name="quick_after", allow_reuse=False)(run_after=quick_out)


def test_a_failure_stops_the_running_steps(flows_ws, tmp_path) -> None:  # type: ignore[no-untyped-def]
    prun = Experiment(flows_ws, "flows-failing").submit(
        failing, pipeline_parameters={"marker_dir": str(tmp_path)})
    details = prun.wait_for_completion(timeout=180, raise_on_error=False)
    assert details["status"] == "Failed"
    assert details["error"]["failed_steps"] == ["fail_after"]
    steps = _steps(prun)
    assert steps["fail_after"].get_status() == "Failed"
    assert steps["wait_for"].get_status() == "Canceled"  # stopped, not left running
    assert "after" not in steps  # downstream of the failure never started


def test_continue_on_step_failure_runs_independent_steps(flows_ws, tmp_path) -> None:  # type: ignore[no-untyped-def]
    Path(tmp_path, "go").write_text("")
    prun = Experiment(flows_ws, "flows-continue").submit(
        continuing, pipeline_parameters={"marker_dir": str(tmp_path)})
    details = prun.wait_for_completion(timeout=180, raise_on_error=False)
    assert details["status"] == "Failed"
    states = prun.get_properties()["step_states"]
    assert states == {"quick": "completed", "fail_after": "failed", "quick_after": "completed",
                      "after": "not run"}


@pipeline(name="flows-cancel")
def cancelable(marker_dir: str):  # type: ignore[no-untyped-def]
    after(data=wait_for(marker_dir=marker_dir, me="slow"))


def test_cancel_stops_running_steps_and_starts_no_more(flows_ws, tmp_path) -> None:  # type: ignore[no-untyped-def]
    prun = Experiment(flows_ws, "flows-cancel").submit(
        cancelable, pipeline_parameters={"marker_dir": str(tmp_path)})
    wait_until(lambda: Path(tmp_path, "slow").exists(), what="the slow step to start")
    prun.cancel()
    details = prun.wait_for_completion(timeout=120, raise_on_error=False)
    assert details["status"] == "Canceled"
    steps = _steps(prun)
    assert steps["wait_for"].get_status() == "Canceled"
    assert "after" not in steps


def test_a_cancel_from_prefects_ui_cancels_the_pipeline_run(  # type: ignore[no-untyped-def]
        flows_ws, prefect_api, tmp_path) -> None:
    """Prefect's UI cancels a flow run by setting it Cancelling over the REST API."""
    prun = Experiment(flows_ws, "flows-cancel").submit(
        cancelable, pipeline_parameters={"marker_dir": str(tmp_path)})
    wait_until(lambda: Path(tmp_path, "slow").exists(), what="the slow step to start")
    flow_run = wait_until(lambda: prun.get_properties().get("prefect_flow_run_id"),
                          what="the pipeline's flow run")
    resp = prefect_post(f"{prefect_api}/flow_runs/{flow_run}/set_state",
                        {"state": {"type": "CANCELLING", "name": "Cancelling"}, "force": True})
    assert resp.status_code in (200, 201), resp.text
    details = prun.wait_for_completion(timeout=120, raise_on_error=False)
    assert details["status"] == "Canceled"
    assert _steps(prun)["wait_for"].get_status() == "Canceled"
    assert any("canceled from Prefect" in (e["reason"] or "")
               for e in flows_ws.store.status_events(prun.id))
    state = wait_until(lambda: prefect_get(f"{prefect_api}/flow_runs/{flow_run}")
                       ["state"]["type"] == "CANCELLED", what="the flow run Cancelled")
    assert state


@step
def writes_nothing(out: Output) -> None:
    print("forgot to write the output")


@step
def count_files(data: Input) -> int:
    import os

    n = len(os.listdir(data))
    print(f"files in the empty output: {n}")
    return n


@pipeline(name="flows-empty")
def empty_output():  # type: ignore[no-untyped-def]
    out = writes_nothing()
    count_files(data=out)


def test_an_empty_output_is_allowed_and_read_as_an_empty_folder(flows_ws) -> None:  # type: ignore[no-untyped-def]
    """As in the managed service: a step may leave an output empty (with a warning); the
    steps reading it get an empty folder."""
    prun = Experiment(flows_ws, "flows-empty").submit(empty_output)
    details = prun.wait_for_completion(timeout=180, raise_on_error=False)
    assert details["status"] == "Completed", prun.get_log()
    run = prun.find_step_run("writes_nothing")[0]
    assert run.get_status() == "Completed"
    assert "output(s) out are empty" in run.get_log()
    assert "files in the empty output: 0" in prun.find_step_run("count_files")[0].get_log()


FIT = """
import argparse, os, pathlib
from cumulus import Run
p = argparse.ArgumentParser()
p.add_argument("--data"); p.add_argument("--model"); p.add_argument("--epochs", type=int)
a = p.parse_args()
values = pathlib.Path(a.data, "values.txt").read_text().split()
notes = pathlib.Path(os.environ["CUMULUS_INPUT_NOTES"]).read_text()
pathlib.Path(a.model, "model.txt").write_text(f"{len(values)} {a.epochs} {notes}")
Run.get_context().log("n", len(values))
"""


@pipeline(name="flows-script")
def scripted(src: str, raw: str, notes: str):  # type: ignore[no-untyped-def]
    from cumulus import ScriptRunConfig
    from cumulus.flows import script_step

    clean = prep(raw=DataPath("workspacestore", raw))
    model = Output("model")
    script_step(ScriptRunConfig(source_directory=src, script="fit.py",
                                arguments=["--data", clean, "--model", model, "--epochs", 3]),
                name="fit", outputs=[model], inputs={"notes": DataPath("workspacestore", notes)})
    return model


def test_script_steps_get_data_and_are_reused_until_the_script_changes(  # type: ignore[no-untyped-def]
        flows_ws, script_dir) -> None:
    ds = flows_ws.get_default_datastore()
    base = unique("script")
    put_text(ds, f"{base}/raw.txt", "5 6")
    put_text(ds, f"{base}/notes.txt", "hello")
    src = script_dir({"fit.py": FIT})
    params = {"src": str(src), "raw": f"{base}/raw.txt", "notes": f"{base}/notes.txt"}
    exp = Experiment(flows_ws, "flows-script")

    def run():  # type: ignore[no-untyped-def]
        prun = exp.submit(scripted, pipeline_parameters=params)
        details = prun.wait_for_completion(timeout=180, raise_on_error=False)
        assert details["status"] == "Completed", prun.get_log()
        return prun, _steps(prun)["fit"]

    first, fit = run()
    model = first.get_outputs()["model"]
    assert read_text(ds, f"{model.path_on_datastore}/model.txt") == "2 3 hello"
    assert fit.get_metrics()["n"] == 2
    _, again = run()
    assert _reason(again) == f"reused run {fit.id}"
    (src / "fit.py").write_text(FIT + "\n# changed\n")
    _, changed = run()
    assert _reason(changed).startswith("code changed: ")


WRITE = "import pathlib, sys\npathlib.Path(sys.argv[1], 'echo.txt').write_text(sys.argv[2])\n"


class Echo(StepKind):
    """A step kind of its own: writes a text into the step's output with a script run."""

    kind = "echo"

    def __init__(self, src: str, text: str) -> None:
        self.src, self.text = src, text

    def code_identity(self) -> str:
        return f"echo:{self.text}"

    def submit(self, call):  # type: ignore[no-untyped-def]
        from cumulus import ScriptRunConfig

        cfg = ScriptRunConfig(source_directory=self.src, script="w.py",
                              arguments=[call.outputs["out"], self.text],
                              compute_target=call.node.compute_target)
        return cfg._submit(call.experiment, parent=call.parent_id, kind="echo",
                           **call.run_fields())


class Submittable:
    """Any config with _submit(experiment, parent=...) can be a step (as sweeps will be)."""

    def __init__(self, src: str) -> None:
        self.src = src

    def to_definition(self) -> dict:
        return {"script": "w.py"}

    def _submit(self, experiment, *, tags=None, parent=None, display_name=None,  # type: ignore[no-untyped-def]
                params=None, properties=None, reuse_key=None):
        from cumulus import ScriptRunConfig

        cfg = ScriptRunConfig(source_directory=self.src, script="w.py", arguments=[".", "x"])
        return cfg._submit(experiment, parent=parent, kind="custom", tags=tags,
                           display_name=display_name, params=params, properties=properties,
                           reuse_key=reuse_key)


@pipeline(name="flows-kinds")
def kinds(src: str):  # type: ignore[no-untyped-def]
    from cumulus.flows import script_step

    out = script_step(Echo(src, "hello"), name="echo", outputs={"out": Output("echoed")})
    script_step(Submittable(src), name="custom", run_after=out)
    return out


def test_any_run_kind_can_be_a_step(flows_ws, script_dir) -> None:  # type: ignore[no-untyped-def]
    src = script_dir({"w.py": WRITE})
    exp = Experiment(flows_ws, "flows-kinds")
    first = exp.submit(kinds, pipeline_parameters={"src": str(src)})
    assert first.wait_for_completion(timeout=180, raise_on_error=False)["status"] == \
        "Completed", first.get_log()
    steps = _steps(first)
    assert (steps["echo"].kind, steps["custom"].kind) == ("echo", "custom")
    out = first.get_outputs()["echoed"]
    assert read_text(flows_ws.get_default_datastore(),
                     f"{out.path_on_datastore}/echo.txt") == "hello"
    second = exp.submit(kinds, pipeline_parameters={"src": str(src)})
    assert second.wait_for_completion(timeout=180)["status"] == "Completed"
    assert {_reason(r) for r in second.get_steps()} == {
        f"reused run {steps['echo'].id}", f"reused run {steps['custom'].id}"}


@pipeline(name="flows-orphan")
def orphaned(marker_dir: str):  # type: ignore[no-untyped-def]
    after(data=wait_for(marker_dir=marker_dir, me="slow"))


def test_a_pipeline_whose_agent_and_process_died_is_failed_not_left_running(
        flows_ws, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import signal

    from cumulus.flows._agent import read_state

    prun = Experiment(flows_ws, "flows-orphan").submit(
        orphaned, pipeline_parameters={"marker_dir": str(tmp_path)})
    wait_until(lambda: Path(tmp_path, "slow").exists(), what="the slow step to start")
    agent = int(read_state(flows_ws)["pid"])
    process = int(flows_ws.store.get_run(prun.id)["properties"]["pipeline_pid"])
    for pid in (process, agent):             # the orchestrator and the agent both die
        os.kill(pid, signal.SIGKILL)
    details = prun.wait_for_completion(timeout=120, raise_on_error=False)   # revives the agent
    assert details["status"] == "Failed"
    assert "the pipeline process exited" in details["error"]["message"]
    step_run = _steps(prun)["wait_for"]               # its running step is stopped too
    wait_until(lambda: step_run.get_status() == "Canceled", what="the step canceled")
    Path(tmp_path, "release").write_text("go")
