"""Writes made inside a caller's transaction, on its driver connection: a run's log text,
metric rows and artifact index entries travel with its status change (see
``Store.transition``), or alone."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from cumulus.store import _hot as hot
from cumulus.store._compiled import Statements


def now() -> datetime:
    return datetime.now(timezone.utc)


def insert_log(sql: Statements, conn: Any, run_id: str, text: str,
                stream: str = "std_log") -> None:
    """Append log text in the caller's transaction (nothing for empty text)."""
    if text:
        sql.get("insert_log", hot.insert_log).rowcount(conn, {
            "v_run_id": run_id, "v_stream": stream, "v_text": text, "v_time": time.time()})


def metric_insert(dialect: str) -> str:
    mark = "?" if dialect == "sqlite" else "%s"
    return ("INSERT INTO metrics (run_id, name, kind, step, value, data, time, attempt) "
            "VALUES (" + ", ".join([mark] * 8) + ")")


def full_rows(rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Metric tuples with their attempt (1 when left out)."""
    return [r if len(r) == 8 else (*r, 1) for r in rows]


def insert_metrics(conn: Any, dialect: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """Metric tuples (see ``insert_metric_tuples``) in the caller's transaction, on its
    driver connection."""
    if not rows:
        return
    cursor = conn.cursor()
    try:
        cursor.executemany(metric_insert(dialect), full_rows(rows))
    finally:
        cursor.close()


def index_artifacts(sql: Statements, conn: Any, run_id: str,
                     items: Sequence[dict[str, Any]]) -> None:
    """Index artifacts in the caller's transaction; an item replaces the same path."""
    if not items:
        return
    drop = sql.get("drop_artifact", hot.drop_artifact)
    add = sql.get("insert_artifact", hot.insert_artifact)
    stamp = now()
    for item in items:
        drop.rowcount(conn, {"run_id": run_id, "path": item["path"]})
        row = {"size": None, "checksum": None, "created_at": stamp, **item, "run_id": run_id}
        add.rowcount(conn, {f"v_{k}": row[k] for k in hot.ARTIFACT_COLUMNS})


__all__ = ["full_rows", "index_artifacts", "insert_log", "insert_metrics", "metric_insert", "now"]
