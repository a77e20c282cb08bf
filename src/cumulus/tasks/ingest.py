"""The executor's side of the script protocol: tail the control file into the store.

The script's ``Run.get_context()`` appends JSON lines (metric rows as arrays, operations as
objects); this reads complete lines since the last offset and writes them in bulk.
"""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cumulus.workspace import Workspace

BATCH = 20000


class Ingestor:
    """Incremental reader of ``events.jsonl`` for one executed run."""

    def __init__(self, ws: Workspace, run_id: str, control_dir: str, attempt: int = 1) -> None:
        self.ws = ws
        self.run_id = run_id
        self.attempt = int(attempt or 1)   # stamped on every metric row
        self.path = os.path.join(control_dir, "events.jsonl")
        self.offset = 0
        self.partial = b""
        self.metrics_written = 0
        self.children: dict[str, str] = {}
        self.hold = False    # keep metric rows for the caller's transaction (see held)
        self.held: list[tuple[Any, ...]] = []

    def take_held(self) -> list[tuple[Any, ...]]:
        """The metric rows kept back while ``hold`` was set, for the caller to write (with the
        run's final status: one transaction less); they count as written."""
        rows, self.held = self.held, []
        self.metrics_written += len(rows)
        return rows

    def flush_held(self) -> None:
        """Write the rows kept back, now."""
        rows, self.held = self.held, []
        self._insert(rows)

    def poll(self) -> int:
        """Ingest whatever complete lines were appended; returns the number of events."""
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return 0
        if not data:
            return 0
        self.offset += len(data)
        data = self.partial + data
        cut = data.rfind(b"\n")
        self.partial = data[cut + 1:]
        if cut < 0:
            return 0
        text = data[:cut].decode("utf-8", errors="replace").strip()
        if not text:
            return 0
        # one parse for the whole batch: far cheaper than json.loads per line
        events = json.loads("[" + text.replace("\n", ",") + "]")
        rows: list[tuple[Any, ...]] = []
        for event in events:
            if isinstance(event, list):
                run, name, kind, step, value, data_, t = event
                rows.append((run or self.run_id, name, kind, step, value, data_, t,
                             self.attempt))
            else:
                self._write(rows)
                rows = []
                self._op(event)
        self._write(rows)
        return len(events)

    def _write(self, rows: list[tuple[Any, ...]]) -> None:
        if self.hold and len(self.held) + len(rows) <= BATCH:
            self.held.extend(rows)
            return
        rows, self.held = self.held + rows, []     # in the order the script logged them
        self._insert(rows)

    def _insert(self, rows: list[tuple[Any, ...]]) -> None:
        for i in range(0, len(rows), BATCH):
            self.ws.store.insert_metric_tuples(rows[i:i + BATCH])
        self.metrics_written += len(rows)

    def _op(self, event: dict[str, Any]) -> None:
        self.flush_held()             # rows logged before an operation land before it
        store = self.ws.store
        target = event.get("r") or self.run_id
        op = event["op"]
        if op == "tag":
            store.merge_run_dict(target, "tags", {event["k"]: event["v"]})
        elif op == "prop":
            store.merge_run_dict(target, "properties", event["v"])
        elif op == "child":
            parent = event.get("parent") or self.run_id
            rec = store.get_run(self.run_id)
            store.create_run(run_id=target, experiment_id=rec["experiment_id"], kind="child",
                             parent_id=parent, display_name=event.get("name"),
                             status="Running", compute_target=rec["compute_target"],
                             node=rec.get("node"))
            self.children[target] = "Running"
        elif op == "end":
            store.try_transition(target, event["status"], reason="child run block ended")
            self.children[target] = event["status"]
        elif op == "upload":
            from cumulus.tasks.artifacts import upload_run_file

            upload_run_file(self.ws, target, event["name"], event["path"])

    def has_children(self) -> bool:
        """Whether the script opened child runs that are still open."""
        return any(st == "Running" for st in self.children.values())

    def close_children(self, status: str) -> None:
        """Children still open when the script ended take the run's final status."""
        for child, st in self.children.items():
            if st == "Running":
                self.ws.store.try_transition(child, status, reason="parent run ended")


def wait_quiet(ingestor: Ingestor, attempts: int = 3, pause: float = 0.005) -> None:
    for _ in range(attempts):
        if ingestor.poll() == 0:
            return
        time.sleep(pause)
