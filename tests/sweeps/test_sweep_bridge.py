"""Trials issued by the submitting process while the sweep's controller starts, and the exact
handover to it (``cumulus.sweeps._bridge``), on the real local compute target.

The controller is made slow to start, or to die before it claims the sweep, by a
``sitecustomize`` module on its PYTHONPATH: it acts only in a process that has the
controller's workspace variable, so the trials' scripts and the cluster are untouched.
"""

from __future__ import annotations

import threading
import time
from datetime import timezone
from pathlib import Path
from typing import Any

import pytest

from cumulus import Experiment, ScriptRunConfig
from cumulus.sweeps import RandomSampling, Sweep, uniform

pytestmark = pytest.mark.integration

QUICK = """
import argparse
from cumulus import Run
p = argparse.ArgumentParser()
p.add_argument("--x", type=float)
a = p.parse_args()
Run.get_context().log("loss", (a.x - 0.3) ** 2)
"""

SITECUSTOMIZE = """
import os, time
from pathlib import Path
if "CUMULUS_SWEEP_WORKSPACE" in os.environ:      # a sweep controller starting
    marks = Path({folder!r})
    if {mode!r} == "die" and not (marks / "died").exists():
        (marks / "died").write_text("")
        os._exit(3)
    if {mode!r} == "slow":
        time.sleep({delay})
        (marks / "claims").write_text(str(time.time()))
"""


def _slow_controllers(monkeypatch: pytest.MonkeyPatch, folder: Path, mode: str,
                      delay: float = 0.0) -> None:
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(
        SITECUSTOMIZE.format(folder=str(folder), mode=mode, delay=delay))
    monkeypatch.syspath_prepend(str(folder))   # not this process: it imported site already
    monkeypatch.setenv("PYTHONPATH", str(folder))


def _peak_in_flight(children: list[dict[str, Any]]) -> int:
    """The most trials recorded and not yet ended at any moment (Queued ones count)."""
    edges = sorted([(c["created_at"], 1) for c in children] +
                   [(c["end_time"], -1) for c in children], key=lambda e: (e[0], e[1]))
    now = peak = 0
    for _, step in edges:
        now += step
        peak = max(peak, now)
    return peak


def _bridges() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("cumulus-sweep-bridge-")]


def test_trials_go_on_while_the_controller_starts_and_it_takes_them_over(
        workspace, script_dir, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _slow_controllers(monkeypatch, tmp_path / "site", "slow", delay=4.0)
    sweep = Sweep(ScriptRunConfig(source_directory=script_dir({"q.py": QUICK}), script="q.py"),
                  RandomSampling({"--x": uniform(-1, 1)}, seed=3), "loss", "minimize",
                  max_total_runs=12, max_concurrent_runs=2)
    srun = Experiment(workspace, "sweep-bridge").submit(sweep)
    srun.wait_for_completion(timeout=240)
    claimed = float((tmp_path / "site" / "claims").read_text())   # not before this
    children = workspace.store.children(srun.id)
    assert sorted(c["properties"]["trial_index"] for c in children) == list(range(12))
    assert {c["status"] for c in children} == {"Completed"}
    before = [c for c in children
              if c["created_at"].replace(tzinfo=timezone.utc).timestamp() < claimed]
    assert len(before) > 2, "only the first batch was issued before the controller came"
    assert _peak_in_flight(children) <= 2       # the concurrency limit held across the handover
    log = srun.get_log()
    for child in children:                      # the controller took every trial over
        assert f"({child['id']}) submitted" in log and f"({child['id']}) Completed" in log
    assert srun.get_details()["properties"]["trials"] == 12
    deadline = time.monotonic() + 10
    while _bridges() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _bridges()


def test_a_controller_that_dies_before_its_claim_stops_the_bridge_and_is_revived(
        workspace, script_dir, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _slow_controllers(monkeypatch, tmp_path / "site", "die")
    sweep = Sweep(ScriptRunConfig(source_directory=script_dir({"q.py": QUICK}), script="q.py"),
                  RandomSampling({"--x": uniform(-1, 1)}, seed=4), "loss", "minimize",
                  max_total_runs=6, max_concurrent_runs=2)
    srun = Experiment(workspace, "sweep-bridge").submit(sweep)
    deadline = time.monotonic() + 30
    while _bridges() and time.monotonic() < deadline:   # it sees the controller exit
        time.sleep(0.05)
    assert not _bridges()
    assert (tmp_path / "site" / "died").exists()
    srun.wait_for_completion(timeout=240)     # a waiter resumes a dead controller
    children = workspace.store.children(srun.id)
    assert sorted(c["properties"]["trial_index"] for c in children) == list(range(6))
    assert {c["status"] for c in children} == {"Completed"}
    assert _peak_in_flight(children) <= 2
