"""The store's compiled hot statements read and write exactly what Core does, and fail as Core
fails, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from cumulus.store import Store
from cumulus.store import _hot as hot
from cumulus.store._compiled import driver_connection
from cumulus.store._retry import transient

from .test_store import store  # noqa: F401  (the SQLite / PostgreSQL fixture)


def _core_row(s: Store, run_id: str) -> dict:  # type: ignore[type-arg]
    with s.engine.connect() as conn:
        row = conn.execute(select(hot.RUNS).where(hot.RUNS.c.id == run_id)).mappings().one()
    return dict(row)


def test_records_match_what_core_reads(store: Store) -> None:  # noqa: F811
    exp = store.get_or_create_experiment("exp")
    created = store.create_run(
        run_id="r1", experiment_id=exp["id"], display_name="train.py",
        params={"lr": 0.1, "layers": [1, 2]}, tags={"ü": "ñ"}, definition={"script": "x.py"},
        compute_target="local")
    assert created == _core_row(store, "r1")
    store.transition("r1", "Preparing", expected=["Queued"], node="host:1")
    store.transition("r1", "Running", expected=["Preparing"])
    store.transition("r1", "Failed", via=["Finalizing"], expected=["Running"], exit_code=3,
                     error={"message": "boom", "lines": ["a", "b"]}, log="last words\n")
    found = store.find_run("r1")
    assert found == _core_row(store, "r1")
    assert found is not None and found["error"] == {"message": "boom", "lines": ["a", "b"]}
    assert found["exit_code"] == 3 and found["params"] == {"lr": 0.1, "layers": [1, 2]}
    assert isinstance(found["start_time"], datetime) and found["end_time"] >= found["start_time"]
    assert [e["to_status"] for e in store.status_events("r1")] == [
        "Queued", "Preparing", "Running", "Finalizing", "Failed"]
    assert store.read_log("r1")[0] == "last words\n"
    assert store.get_status("r1") == "Failed"
    assert store.find_run("nope") is None


def test_a_duplicate_run_is_core_s_integrity_error_and_the_store_goes_on(
        store: Store) -> None:  # noqa: F811
    exp = store.get_or_create_experiment("exp")
    store.create_run(run_id="dup", experiment_id=exp["id"])
    with pytest.raises(IntegrityError):
        store.create_run(run_id="dup", experiment_id=exp["id"])
    assert store.get_status("dup") == "Queued"     # the failed transaction left nothing
    assert [e["to_status"] for e in store.status_events("dup")] == ["Queued"]


def test_literals_of_a_statement_and_missing_parameters(store: Store) -> None:  # noqa: F811
    store.datastores.put("a", "file:///a", {})
    store.datastores.put("b", "file:///b", {}, is_default=True)
    assert store.datastores.default("a")["name"] == "b"     # type: ignore[index]  (LIMIT 1)
    status = store.sql.get("status", hot.run_status)
    with driver_connection(store.engine, write=False) as conn, \
            pytest.raises(KeyError, match="'id' not given"):
        status.first(conn, {})


def test_a_lost_connection_is_invalidated_and_the_error_transient(pg_url: str) -> None:
    s = Store(pg_url)
    run_id = f"lost-{uuid.uuid4().hex[:8]}"
    s.create_run(run_id=run_id, experiment_id=s.get_or_create_experiment("exp")["id"])
    other = Store(pg_url)
    with driver_connection(s.engine, write=False) as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
        cursor.close()
        with other.engine.begin() as killer:
            killer.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        with pytest.raises(OperationalError) as info:
            s.sql.get("status", hot.run_status).first(conn, {"id": run_id})
        assert info.value.connection_invalidated and transient(info.value)
    assert s.get_status(run_id) == "Queued"       # the pool opened a new connection


def test_a_failed_write_rolls_back_all_of_it(store: Store) -> None:  # noqa: F811
    exp = store.get_or_create_experiment("exp")
    store.create_run(run_id="w1", experiment_id=exp["id"])
    with pytest.raises(IntegrityError), driver_connection(store.engine, write=True) as conn:
        store.sql.get("insert_log", hot.insert_log).rowcount(conn, {
            "v_run_id": "w1", "v_stream": "std_log", "v_text": "kept?\n", "v_time": 1.0})
        store.sql.get("insert_event", hot.insert_event).rowcount(conn, {
            "v_run_id": "no-such-run", "v_from_status": None, "v_to_status": "Queued",
            "v_time": datetime.now(), "v_reason": None})
    assert store.read_log("w1") == ("", 0)      # the log line went with the failed event
