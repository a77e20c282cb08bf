"""The fair-share queue for real: a sweep fills a small target with queued trials; a
colleague's single run submitted afterwards starts at the next free slot, before the
sweep's trials that were queued ahead of it."""

from __future__ import annotations

import time

import pytest

from cumulus import Experiment, ScriptRunConfig
from cumulus.sweeps import GridSampling, Sweep, choice

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SLOW = "import sys, time\ntime.sleep(2)\nprint('x', sys.argv[-1])\n"


def _started(store, run_id: str) -> float | None:  # type: ignore[no-untyped-def]
    for e in store.status_events(run_id):
        if e["to_status"] == "Running":
            return float(e["time"].timestamp())
    return None


def _recorded(store, run_id: str) -> float:  # type: ignore[no-untyped-def]
    return float(store.status_events(run_id)[0]["time"].timestamp())


def test_a_single_run_is_not_starved_by_a_sweeps_queue(workspace, script_dir) -> None:  # type: ignore[no-untyped-def]
    src = ScriptRunConfig(source_directory=str(script_dir({"slow.py": SLOW})), script="slow.py")
    sweep = Sweep(src, GridSampling({"--i": choice(*range(8))}), "m", "maximize",
                  max_concurrent_runs=8)
    srun = Experiment(workspace, "fair-sweep").submit(sweep)
    deadline = time.monotonic() + 60
    while len([t for t in srun.get_children() if t.get_status() == "Queued"]) < 3:
        assert time.monotonic() < deadline, "the sweep never queued up"
        time.sleep(0.1)
    queued = [t.id for t in srun.get_children() if t.get_status() == "Queued"]
    from cumulus.compute import ComputeTarget

    # who waits, in what order, why: a trial is recorded Queued before its task reaches the
    # scheduler, so the scheduler's queue may lag the store by a moment
    target = ComputeTarget(workspace, "local")
    line = target.get_queue()
    while not line and time.monotonic() < deadline:
        time.sleep(0.1)
        line = target.get_queue()
    assert line and [q["position"] for q in line] == list(range(1, len(line) + 1))
    assert {q["run"] for q in line} <= set(queued)
    assert all("busy" in q["reason"] or "to start" in q["reason"] for q in line), line
    single = Experiment(workspace, "fair-colleague").submit(src)
    assert single.wait_for_completion(timeout=120)["status"] == "Completed"
    mine = _started(workspace.store, single.id)
    arrived = _recorded(workspace.store, single.id) + 0.5   # its task is on the scheduler
    assert mine is not None
    overtook = [t for t in queued
                if arrived < (_started(workspace.store, t) or 1e18) < mine - 0.05]
    assert not overtook, f"{len(overtook)} trial(s) queued before it started first"
    assert srun.wait_for_completion(timeout=240)["status"] == "Completed"


def test_priority_is_checked_and_travels_with_the_run(workspace, script_dir) -> None:  # type: ignore[no-untyped-def]
    from cumulus.errors import ValidationError

    src = ScriptRunConfig(source_directory=str(script_dir({"t.py": "print('hi')\n"})),
                          script="t.py")
    exp = Experiment(workspace, "priority")
    before = len(list(exp.get_runs()))
    for bad in (True, "high", 10_000):
        with pytest.raises(ValidationError, match="priority must be an int from -1000 to 1000"):
            exp.submit(src, priority=bad)
    assert len(list(exp.get_runs())) == before           # nothing recorded
    run = exp.submit(src, priority=7)
    assert run.wait_for_completion(timeout=120)["status"] == "Completed"
    assert workspace.store.get_run(run.id)["definition"]["priority"] == 7
    sweep = Sweep(src, GridSampling({"--i": choice(1, 2)}), "m", "maximize")
    srun = exp.submit(sweep, priority=3)
    srun.wait_for_completion(timeout=120, raise_on_error=False)
    assert {workspace.store.get_run(t.id)["definition"]["priority"]
            for t in srun.get_children()} == {3}
