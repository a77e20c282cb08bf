"""Node preparation for real: a target's node_setup runs on each new node before any run is
placed there; a failing setup marks the node setup-failed with its log, runs wait (none is
lost), and fixing the command with update() lets them run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _compute_helpers import run_config, wait_until

from cumulus import Experiment
from cumulus.compute import ClusterConfig, ComputeTarget
from cumulus.compute._setup import summarize
from cumulus.errors import ValidationError

pytestmark = pytest.mark.integration

CHECK = ("import os, sys\nmarker = os.path.join(sys.argv[1], os.environ['CUMULUS_NODE_NAME'])\n"
         "print('prepared before me:', os.path.exists(marker), flush=True)\n"
         "assert os.path.exists(marker), 'node_setup had not run'\n")


def test_bad_node_setup_is_refused() -> None:
    for bad in ("", "   ", 3):
        with pytest.raises(ValidationError, match="node_setup must be a bash command"):
            ClusterConfig(node_setup=bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="node_setup_timeout must be > 0"):
        ClusterConfig(node_setup="true", node_setup_timeout=0)
    assert summarize("x\ny\n[cumulus] node_setup exited with status 2\n") == \
        "node_setup exited with status 2: y"


def test_runs_start_after_the_setup_and_wait_while_it_fails(cws: Any, src: Path,
                                                           tmp_path: Path) -> None:
    (src / "check.py").write_text(CHECK)
    marks = tmp_path / "marks"
    marks.mkdir()
    name = "prepared"
    ComputeTarget.create(cws, name, ClusterConfig(
        min_nodes=0, max_nodes=1, idle_seconds_before_scaledown=30,
        node_setup=f"echo preparing; sleep 1; touch {marks}/$CUMULUS_NODE_NAME"))
    exp = Experiment(cws, "node-setup")
    run = exp.submit(run_config(src, "check.py", str(marks), target=name))
    assert run.wait_for_completion(timeout=120)["status"] == "Completed", run.get_log()
    assert "prepared before me: True" in run.get_log()
    target = ComputeTarget(cws, name)
    node = target.list_nodes()[0]
    assert node["setup"]["ok"] and "preparing" in node["setup"]["log"]

    # a broken setup: new nodes fail it, the run waits and is not lost
    target.update(node_setup="echo 'no driver here' >&2; exit 3", min_nodes=0)
    wait_until(lambda: target.get_status().errors, timeout=60, what="the node fails setup")
    status = target.get_status()
    assert status.errors == [f"node {node['name']}: node_setup exited with status 3: "
                             "no driver here"], status.errors
    assert status.node_state_counts["unusable"] == 1
    waiting = exp.submit(run_config(src, "sleep.py", 0.1, target=name))
    wait_until(lambda: target.get_queue(), what="the run waits")
    assert waiting.get_status() == "Queued"
    failed = target.list_nodes()[0]["setup"]
    assert not failed["ok"] and "no driver here" in failed["log"]
    # fixed: every node runs the new command and the waiting run starts
    target.update(node_setup="echo fixed")
    assert waiting.wait_for_completion(timeout=120)["status"] == "Completed"
    wait_until(lambda: not target.get_status().errors, timeout=30, what="errors cleared")
