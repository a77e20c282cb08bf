"""Exact resume after the controller process is killed (kill -9): finished trials are kept,
running ones reattached, a recorded-but-never-dispatched one requeued, one whose task was lost
while running requeued (its lost attempt's metrics ignored), no trial duplicated, and the
sampler continues its sequence as if nothing had happened."""

from __future__ import annotations

import os
import signal
import time

import pytest

from cumulus import Experiment, ScriptRunConfig
from cumulus.compute._local import pid_alive
from cumulus.errors import SweepError
from cumulus.sweeps import RandomSampling, Sweep, uniform
from cumulus.sweeps._spec import SweepSpec
from cumulus.sweeps._trials import TrialSubmitter

pytestmark = pytest.mark.integration

TRAIN = """
import argparse, time
from cumulus import Run
p = argparse.ArgumentParser()
p.add_argument("--x", type=float)
a = p.parse_args()
run = Run.get_context()
for i in range(3):
    run.log("score", a.x + i)
    time.sleep(0.4)
"""


def _wait_until(predicate, timeout: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.1)


def test_resume_after_kill_9_keeps_trials_and_finishes_exactly(workspace, script_dir) -> None:  # type: ignore[no-untyped-def]
    sampler = RandomSampling({"--x": uniform(0, 1)}, seed=11)
    src = ScriptRunConfig(source_directory=script_dir({"train.py": TRAIN}), script="train.py")
    sweep = Sweep(src, sampler, "score", "maximize", max_total_runs=10, max_concurrent_runs=2)
    srun = Experiment(workspace, "sweep-resume").submit(sweep)
    store = workspace.store

    def completed() -> list[str]:
        return [t.id for t in srun.get_children() if t.get_status() == "Completed"]

    # the first trials start before the controller process is up: wait for it too
    _wait_until(lambda: len(completed()) >= 2 and "following the trials" in srun.get_log())
    pid = srun.controller_status()["pid"]
    os.kill(pid, signal.SIGKILL)
    _wait_until(lambda: not pid_alive(pid), timeout=10)
    assert srun.get_status() == "Running" and not srun.controller_status()["alive"]
    with pytest.raises(SweepError, match="stopped without finishing it"):
        srun.wait_for_completion(timeout=30, resume_dead_controller=False)

    before = {t.id: t.get_details() for t in srun.get_children()}
    kept = {i: d["endTimeUtc"] for i, d in before.items() if d["status"] == "Completed"}
    n = len(before)
    assert n <= 8  # room for the two fabricated trials below
    # the dead controller had recorded its next trial but not handed it to the cluster yet
    spec = SweepSpec.from_definition(srun.definition)
    submitter = TrialSubmitter(workspace, srun.experiment.id, srun.id, spec.template)
    orphan, _, _ = submitter.create(n, sampler.point(n))
    assert store.get_status(orphan) == "Queued"
    # and one trial "ran" on a node that is gone: Running in the store, no task, a metric
    lost, _, _ = submitter.create(n + 1, sampler.point(n + 1))
    store.transition(lost, "Running")
    store.insert_metrics([{"run_id": lost, "name": "score", "kind": "scalar", "step": 0,
                           "value": 100.0, "data": None, "time": time.time()}])

    srun.resume(detach=False)  # drives the sweep here until it ends

    assert srun.get_status() == "Completed"
    trials = srun.get_children()
    assert [t.id for t in trials] == [f"{srun.id}_{i}" for i in range(10)]
    assert [t.get_details()["params"] for t in trials] == sampler.suggest((), 10)
    assert all(t.get_status() == "Completed" for t in trials)
    for run_id, end in kept.items():  # finished before the kill: untouched
        assert trials[int(run_id.rsplit("_", 1)[1])].get_details()["endTimeUtc"] == end
    for t in trials:  # every trial ran once: reattached, not re-executed (but the lost one)
        events = t.get_details()["statusHistory"]
        history = [e["status"] for e in events]
        assert history.count("Running") == (2 if t.id == lost else 1), (
            t.id, [(e["time"], e["status"], e["reason"]) for e in events], srun.get_log())
    assert store.get_run(lost)["attempt"] == 2
    log = srun.get_log()
    assert "resumed:" in log and "requeued: it had not reached the cluster" in log, log
    assert f"({lost}) requeued (attempt 2)" in log
    scores = {r["run_id"]: r["best_primary_metric"]
              for r in srun.get_children_sorted_by_primary_metric()}
    assert scores[lost] == pytest.approx(sampler.point(n + 1)["--x"] + 2)  # not the lost 100
    best = srun.get_best_run_by_primary_metric()
    assert best is not None
    assert best.get_details()["params"]["--x"] == max(p["--x"] for p in sampler.suggest((), 10))
    with pytest.raises(SweepError, match="already ended"):
        srun.resume()


def test_a_client_waiting_on_a_sweep_resumes_its_dead_controller(workspace, script_dir) -> None:  # type: ignore[no-untyped-def]
    sampler = RandomSampling({"--x": uniform(0, 1)}, seed=5)
    src = ScriptRunConfig(source_directory=script_dir({"train.py": TRAIN}), script="train.py")
    srun = Experiment(workspace, "sweep-revive").submit(
        Sweep(src, sampler, "score", "maximize", max_total_runs=6, max_concurrent_runs=2))
    _wait_until(lambda: "following the trials" in srun.get_log())
    pid = srun.controller_status()["pid"]
    os.kill(pid, signal.SIGKILL)
    _wait_until(lambda: not pid_alive(pid), timeout=10)
    details = srun.wait_for_completion(timeout=180)       # notices, resumes, waits
    assert details["status"] == "Completed"
    assert srun.controller_status()["pid"] != pid
    assert len(srun.get_children()) == 6
    assert "resumed:" in srun.get_log()
