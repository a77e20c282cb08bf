"""The statements every run executes, as Core built once (see ``_compiled.py``).

Each builder returns a Core statement whose parameters are named bind parameters; the store
compiles it once per engine and executes it on the DBAPI cursor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.sql.expression import ClauseElement

from cumulus.store import models as m

RUNS: Table = m.Run.__table__  # type: ignore[assignment]
EVENTS: Table = m.StatusEvent.__table__  # type: ignore[assignment]
LOGS: Table = m.LogChunk.__table__  # type: ignore[assignment]
DATASTORES: Table = m.DatastoreRecord.__table__  # type: ignore[assignment]
EXPERIMENTS: Table = m.Experiment.__table__  # type: ignore[assignment]
ARTIFACTS: Table = m.Artifact.__table__  # type: ignore[assignment]
METRICS: Table = m.Metric.__table__  # type: ignore[assignment]
SWEEPS: Table = m.SweepState.__table__  # type: ignore[assignment]


def run_status() -> ClauseElement:
    return select(RUNS.c.status).where(RUNS.c.id == bindparam("id"))


def run_status_attempt() -> ClauseElement:
    return select(RUNS.c.status, RUNS.c.attempt).where(RUNS.c.id == bindparam("id"))


def run_field(field: str) -> ClauseElement:
    """One column of a run, FOR UPDATE where the dialect locks rows (a merge reads it)."""
    return select(RUNS.c[field]).where(RUNS.c.id == bindparam("id")).with_for_update()


def run_row() -> ClauseElement:
    return select(RUNS).where(RUNS.c.id == bindparam("id"))


def insert_run() -> ClauseElement:
    """Every column given (the record is returned as stored, without a second read)."""
    return (insert(RUNS).values({c.key: bindparam(f"v_{c.key}") for c in RUNS.columns})
            .returning(*RUNS.columns))


def set_run(keys: Sequence[str], *, check_status: bool, check_attempt: bool = False
            ) -> ClauseElement:
    """UPDATE runs SET ``keys`` WHERE id (AND status, a compare-and-set; AND attempt, so that
    an attempt whose run was taken over by a later one changes nothing)."""
    where = [RUNS.c.id == bindparam("w_id")]
    if check_status:
        where.append(RUNS.c.status == bindparam("w_status"))
    if check_attempt:
        where.append(func.coalesce(RUNS.c.attempt, 1) == bindparam("w_attempt"))
    return update(RUNS).where(*where).values({k: bindparam(f"v_{k}") for k in keys})


def claim_run(keys: Sequence[str]) -> ClauseElement:
    """UPDATE runs SET ``keys`` WHERE id AND status, RETURNING the row as it now stands."""
    return set_run(keys, check_status=True).returning(*RUNS.columns)  # type: ignore[attr-defined]


def sweep_unclaimed() -> ClauseElement:
    """Lock a sweep's row while the controller spawned for it (pid ``w_pid``) has not claimed
    it (it has no heartbeat yet): one row, or none once it has."""
    t = SWEEPS
    return (update(t).where(t.c.run_id == bindparam("w_run_id"),
                            t.c.controller_pid == bindparam("w_pid"),
                            t.c.controller_heartbeat.is_(None))
            .values(controller_pid=bindparam("v_pid")))


def run_statuses(count: int) -> ClauseElement:
    """The status of ``count`` runs, bound as ``id0``, ``id1``, ..."""
    ids: list[Any] = [bindparam(f"id{i}") for i in range(count)]
    return select(RUNS.c.id, RUNS.c.status).where(RUNS.c.id.in_(ids))


def metric_rows(count: int, *, with_name: bool) -> ClauseElement:
    """The metric rows of ``count`` runs (``id0``, ...) after row ``after_id`` (of metric
    ``name``), in the order written."""
    t = METRICS
    q = select(t).where(t.c.run_id.in_([bindparam(f"id{i}") for i in range(count)]),
                        t.c.id > bindparam("after_id"))
    if with_name:
        q = q.where(t.c.name == bindparam("name"))
    return q.order_by(t.c.id)


def insert_event() -> ClauseElement:
    cols = ("run_id", "from_status", "to_status", "time", "reason")
    return insert(EVENTS).values({k: bindparam(f"v_{k}") for k in cols})


def status_events() -> ClauseElement:
    return (select(EVENTS.c.from_status, EVENTS.c.to_status, EVENTS.c.time, EVENTS.c.reason)
            .where(EVENTS.c.run_id == bindparam("run_id")).order_by(EVENTS.c.id))


def read_log(*, with_stream: bool) -> ClauseElement:
    q = select(LOGS.c.id, LOGS.c.text).where(LOGS.c.run_id == bindparam("run_id"),
                                             LOGS.c.id > bindparam("after_id"))
    if with_stream:
        q = q.where(LOGS.c.stream == bindparam("stream"))
    return q.order_by(LOGS.c.id)


def insert_log() -> ClauseElement:
    cols = ("run_id", "stream", "text", "time")
    return insert(LOGS).values({k: bindparam(f"v_{k}") for k in cols})


ARTIFACT_COLUMNS = ("run_id", "path", "datastore", "location", "size", "checksum", "created_at")


def drop_artifact() -> ClauseElement:
    t = ARTIFACTS
    return delete(t).where(t.c.run_id == bindparam("run_id"), t.c.path == bindparam("path"))


def insert_artifact() -> ClauseElement:
    return insert(ARTIFACTS).values({k: bindparam(f"v_{k}") for k in ARTIFACT_COLUMNS})


def record(table: Table) -> ClauseElement:
    (pk,) = table.primary_key.columns
    return select(table).where(pk == bindparam("key"))


def default_datastore() -> ClauseElement:
    t = DATASTORES
    return (select(t.c.name, t.c.url, t.c.definition)
            .where(t.c.is_default.is_(True) | (t.c.name == bindparam("fallback")))
            .order_by(t.c.is_default.desc()).limit(1))


def experiment_name() -> ClauseElement:
    return select(EXPERIMENTS.c.name).where(EXPERIMENTS.c.id == bindparam("id"))


def prefixed(values: dict[str, Any], prefix: str = "v_") -> dict[str, Any]:
    return {f"{prefix}{k}": v for k, v in values.items()}


__all__ = [
    "claim_run",
    "default_datastore",
    "drop_artifact",
    "experiment_name",
    "insert_artifact",
    "insert_event",
    "insert_log",
    "insert_run",
    "metric_rows",
    "prefixed",
    "record",
    "run_row",
    "run_status",
    "run_statuses",
    "set_run",
    "status_events",
    "sweep_unclaimed",
]
