"""Sweeps end to end on the real local compute target: a detached controller, Dask trials
running real scripts, metrics through the store."""

from __future__ import annotations

import io
import time

import pytest

from cumulus import Experiment, ScriptRunConfig
from cumulus.sweeps import (
    BanditPolicy,
    GridSampling,
    RandomSampling,
    Sweep,
    SweepRun,
    _state,
    choice,
    uniform,
)

pytestmark = pytest.mark.integration

SCORE = """
import argparse, os
from cumulus import Run
p = argparse.ArgumentParser()
p.add_argument("--x", type=int)
p.add_argument("--steps", type=int)
a = p.parse_args()
assert os.environ["CUMULUS_PARAM_X"] == str(a.x), os.environ["CUMULUS_PARAM_X"]
run = Run.get_context()
for i in range(a.steps):
    run.log("score", a.x * 0.1 + i * 0.01)
"""

CURVES = """
import argparse, time
from cumulus import Run
p = argparse.ArgumentParser()
p.add_argument("--quality")
a = p.parse_args()
run = Run.get_context()
if a.quality == "good":
    for i in range(600):
        run.log("acc", 0.9)
else:
    for i in range(600):
        run.log("acc", 0.1)
        time.sleep(0.05)
"""

SLOW = """
import time
from cumulus import Run
run = Run.get_context()
for i in range(600):
    run.log("m", float(i))
    time.sleep(0.1)
"""

WRONG_NAME = """
from cumulus import Run
run = Run.get_context()
run.log("acc", 0.5)
run.log("loss", 0.1)
"""


def _wait_until(predicate, timeout: float = 90.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.1)


def _story(run) -> str:  # type: ignore[no-untyped-def]
    """A trial's status history with reasons, and its log's end: what a failure shows."""
    events = run.get_details()["statusHistory"]
    lines = [f"{e['time']} {e['status']}: {e['reason']}" for e in events]
    return "\n".join([run.id, *lines, run.get_log()[-3000:]])


def test_grid_sweep_completes_and_finds_the_best_run(workspace, script_dir) -> None:  # type: ignore[no-untyped-def]
    src = ScriptRunConfig(source_directory=script_dir({"score.py": SCORE}), script="score.py",
                          arguments=["--steps", 3, "--x", 99])
    sweep = Sweep(src, GridSampling({"--x": choice(1, 2, 3, 4)}), "score", "maximize",
                  max_concurrent_runs=2)
    srun = Experiment(workspace, "sweep-grid").submit(sweep)
    assert isinstance(srun, SweepRun) and srun.kind == "sweep"
    out = io.StringIO()
    details = srun.wait_for_completion(show_output=True, stream=out, timeout=180)
    assert details["status"] == "Completed", out.getvalue()
    log = out.getvalue()
    assert "trial 3" in log and "finished: Completed" in log
    assert "following the trials through Dask events" in log  # woken by events, not polls

    trials = srun.get_children()
    assert len(trials) == 4 and {t.kind for t in trials} == {"trial"}
    assert all(t.get_status() == "Completed" for t in trials)
    args = [t.get_details()["arguments"] for t in trials]
    assert all(a.count("--x") == 1 and a[:2] == ["--steps", 3] for a in args)  # 99 replaced
    assert sorted(t.get_details()["params"]["--x"] for t in trials) == [1, 2, 3, 4]

    best = srun.get_best_run_by_primary_metric()
    assert best is not None and best.get_details()["params"] == {"--x": 4}
    top = srun.get_children_sorted_by_primary_metric(top=2)
    assert [r["hyperparameters"]["--x"] for r in top] == [4, 3]
    assert top[0]["best_primary_metric"] == pytest.approx(0.42)
    worst = srun.get_children_sorted_by_primary_metric(reverse=True)[0]
    assert worst["hyperparameters"] == {"--x": 1} and worst["steps"] == 3
    assert srun.get_properties()["best_run_id"] == best.id
    progress = srun.get_progress()
    assert progress["Completed"] == 4 and progress["issued"] == 4 and progress["planned"] == 4
    assert srun.controller_status()["pid"] is None  # released at the end

    # looked up again by id or listed, the sweep comes back with its own methods
    from cumulus import Run

    again = Run(srun.experiment, srun.id)
    assert type(again) is SweepRun and again.get_best_run_by_primary_metric() == best
    listed = {r.id: r for r in srun.experiment.get_runs()}
    assert type(listed[srun.id]) is SweepRun
    assert all(type(t) is Run for t in trials)


def test_bandit_cancels_the_bad_trial_while_it_runs(workspace, script_dir) -> None:  # type: ignore[no-untyped-def]
    src = ScriptRunConfig(source_directory=script_dir({"curves.py": CURVES}),
                          script="curves.py")
    policy = BanditPolicy(slack_amount=0.2, evaluation_interval=1, delay_evaluation=1)
    sweep = Sweep(src, GridSampling({"--quality": choice("good", "bad")}), "acc", "maximize",
                  policy=policy, max_concurrent_runs=2)
    srun = Experiment(workspace, "sweep-bandit").submit(sweep)
    assert srun.wait_for_completion(timeout=180)["status"] == "Completed"

    by_quality = {t.get_details()["params"]["--quality"]: t for t in srun.get_children()}
    good, bad = by_quality["good"], by_quality["bad"]
    assert good.get_status() == "Completed", _story(good)
    assert bad.get_status() == "Canceled", _story(bad)
    reasons = [e["reason"] or "" for e in bad.get_details()["statusHistory"]]
    assert any(r.startswith("early termination: BanditPolicy(") for r in reasons), reasons
    assert len(bad.get_metrics()["acc"]) < 600  # stopped long before its end
    rows = {r["run_id"]: r for r in srun.get_children_sorted_by_primary_metric()}
    assert rows[bad.id]["early_termination"].startswith("early termination")
    assert rows[good.id]["early_termination"] is None
    assert srun.get_progress()["pruned"] == 1
    assert bad.id in _state.load(workspace.store, srun.id).state["pruned"]
    assert srun.get_best_run_by_primary_metric() == good


def test_cancel_stops_the_running_trials_and_issues_no_more(workspace, script_dir) -> None:  # type: ignore[no-untyped-def]
    src = ScriptRunConfig(source_directory=script_dir({"slow.py": SLOW}), script="slow.py")
    sweep = Sweep(src, RandomSampling({"--x": uniform(0, 1)}, seed=1), "m", "maximize",
                  max_total_runs=10, max_concurrent_runs=2)
    srun = Experiment(workspace, "sweep-cancel").submit(sweep)
    _wait_until(lambda: any(t.get_status() == "Running" for t in srun.get_children()))
    srun.cancel()
    details = srun.wait_for_completion(raise_on_error=False, timeout=120)
    assert details["status"] == "Canceled"
    trials = srun.get_children()
    assert 1 <= len(trials) <= 2
    _wait_until(lambda: all(t.get_status() == "Canceled" for t in srun.get_children()))


def test_a_primary_metric_never_logged_is_a_loud_warning(workspace, script_dir) -> None:  # type: ignore[no-untyped-def]
    src = ScriptRunConfig(source_directory=script_dir({"wrong.py": WRONG_NAME}),
                          script="wrong.py")
    sweep = Sweep(src, RandomSampling({"--x": uniform(0, 1)}, seed=2), "accuracy",
                  "maximize", max_total_runs=1)
    srun = Experiment(workspace, "sweep-warning").submit(sweep)
    srun.wait_for_completion(timeout=120)
    (warning,) = srun.get_warnings()
    assert "not the primary metric 'accuracy'" in warning and "Did you mean 'acc'" in warning
    assert "WARNING" in srun.get_log()
    assert srun.get_best_run_by_primary_metric() is None


def test_warm_start_from_an_earlier_sweep(workspace, script_dir) -> None:  # type: ignore[no-untyped-def]
    src = ScriptRunConfig(source_directory=script_dir({"score.py": SCORE}), script="score.py",
                          arguments=["--steps", 1])
    grid = GridSampling({"--x": choice(1, 2, 3)})
    exp = Experiment(workspace, "sweep-warm")
    first = exp.submit(Sweep(src, grid, "score", "maximize", max_total_runs=2))
    first.wait_for_completion(timeout=120)
    second = exp.submit(Sweep(src, grid, "score", "maximize", resume_from=first))
    second.wait_for_completion(timeout=120)
    # the grid skips the points the first sweep ran: only x=3 is left
    assert [t.get_details()["params"] for t in second.get_children()] == [{"--x": 3}]
    assert second.definition["warm_start"][0]["trial_id"].startswith(first.id)
    assert second.get_best_run_by_primary_metric().get_details()["params"] == {"--x": 3}  # type: ignore[union-attr]
    both = second.get_trials(include_resume_from_runs=True)
    assert [t.params["--x"] for t in both] == [1, 2, 3]
