"""Several client processes submit to one target at once: none lost, none run twice."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from _compute_helpers import wait_until

from cumulus.compute import ClusterConfig, ComputeTarget

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
CLIENTS, PER_CLIENT = 4, 6

SUBMITTER = """
import sys
from cumulus import Experiment, ScriptRunConfig, Workspace
root, src, ledger, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ws = Workspace.from_config(root)
exp = Experiment(ws, "many")
for _ in range(n):
    run = exp.submit(ScriptRunConfig(source_directory=src, script="ledger.py",
                                     arguments=[ledger], compute_target="shared"))
    print(run.id, flush=True)
"""


def test_many_clients_submit_to_one_target(cws: Any, src: Path, tmp_path: Path) -> None:
    target = ComputeTarget.create(cws, "shared", ClusterConfig(
        min_nodes=0, max_nodes=2, idle_seconds_before_scaledown=2))
    ledger = tmp_path / "ledger"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    procs = [subprocess.Popen([sys.executable, "-c", SUBMITTER, str(cws.root), str(src),
                               str(ledger), str(PER_CLIENT)], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(CLIENTS)]
    submitted: list[str] = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        submitted += out.split()
    assert len(set(submitted)) == CLIENTS * PER_CLIENT
    store = cws.store
    try:
        wait_until(lambda: set(store.get_statuses(submitted).values()) == {"Completed"},
                   timeout=240, what="every run to complete")
    except AssertionError:
        raise AssertionError(f"{Counter(store.get_statuses(submitted).values())}; "
                             f"{target.get_status().summary()}") from None
    assert Counter(ledger.read_text().split()) == Counter(submitted)   # each exactly once
    for run_id in submitted:
        starts = [e for e in store.status_events(run_id) if e["to_status"] == "Preparing"]
        assert len(starts) == 1 and store.get_run(run_id)["attempt"] == 1
    wait_until(lambda: target.get_status().queued_runs == 0, what="an empty queue")


def test_a_process_exits_at_once_when_its_cluster_is_gone(cws: Any, src: Path,
                                                          caplog: Any) -> None:
    """A quick run can end, and its cluster be stopped, before its submit was confirmed: the
    run needs no confirmation, and an exiting process does not wait 30 s for a scheduler
    that is gone."""
    import time

    from cumulus import Experiment, ScriptRunConfig
    from cumulus.compute._base import run_key
    from cumulus.compute._submit import confirm_later, flush_confirmations

    target = ComputeTarget.create(cws, "brief", ClusterConfig(min_nodes=0, max_nodes=1))
    run = Experiment(cws, "brief").submit(ScriptRunConfig(
        source_directory=str(src), script="ledger.py", arguments=[str(src / "l")],
        compute_target="brief"))
    assert run.wait_for_completion(timeout=120)["status"] == "Completed"
    client = target.backend.client()
    target.backend.stop()
    confirm_later(client, run_key(run.id), cws.store_url, run.id)       # as if unconfirmed
    confirm_later(client, run_key("never-recorded"), cws.store_url, "never-recorded")
    started = time.monotonic()
    with caplog.at_level("WARNING", logger="cumulus.compute"):
        flush_confirmations(20)
    assert time.monotonic() - started < 5
    warned = [r.getMessage() for r in caplog.records]
    assert any("never-recorded" in m and "cannot be reached" in m for m in warned), warned
    assert not any(run.id in m for m in warned), warned
