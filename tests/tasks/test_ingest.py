"""The executor's reader of the script's control file: metric rows in bulk, operations in the
order the script made them, and the last rows kept back for the run's final transaction."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cumulus import Workspace
from cumulus.tasks.ingest import Ingestor


def _append(control: Path, *events: Any) -> None:
    control.mkdir(parents=True, exist_ok=True)
    with open(control / "events.jsonl", "a") as fh:
        fh.writelines(json.dumps(e) + "\n" for e in events)


def _row(step: int) -> list[Any]:
    return [None, "loss", "scalar", step, float(step), None, 1.0]


def test_held_rows_wait_for_the_final_transaction_but_never_pass_an_operation(
        tmp_path: Path) -> None:
    ws = Workspace.create("ingest", path=tmp_path / "ws")
    run_id = ws.store.create_run(run_id="r1", experiment_id=ws.store.get_or_create_experiment(
        "e")["id"])["id"]
    control = tmp_path / "control"
    ingest = Ingestor(ws, run_id, str(control))
    _append(control, _row(0), _row(1))
    assert ingest.poll() == 2
    assert len(ws.store.get_metric_rows([run_id])) == 2         # written as they come

    ingest.hold = True                                          # the script has exited
    _append(control, _row(2), {"op": "tag", "k": "phase", "v": "end"}, _row(3), _row(4))
    assert ingest.poll() == 4
    stored = ws.store.get_metric_rows([run_id])
    assert [r["step"] for r in stored] == [0, 1, 2]             # before the tag: written
    assert ws.store.get_run(run_id)["tags"] == {"phase": "end"}
    held = ingest.take_held()
    assert [r[3] for r in held] == [3, 4] and ingest.held == []

    _append(control, _row(5))
    ingest.poll()
    ingest.hold = False
    ingest.flush_held()                                         # the final write failed: now
    assert [r["step"] for r in ws.store.get_metric_rows([run_id])] == [0, 1, 2, 5]
