"""The same store suite against SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest

from cumulus.errors import InvalidTransitionError, RunNotFoundError, StoreError
from cumulus.store import HEAD_REVISION, Store


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path) -> Store:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        return Store(f"sqlite:///{tmp_path / 'store.db'}")
    url = request.getfixturevalue("pg_url")
    s = Store(url)
    with s.engine.begin() as conn:  # isolate tests sharing the session schema
        for table in ("status_events", "metrics", "log_chunks", "artifacts", "runs",
                      "experiments", "compute_targets", "datastores"):
            conn.exec_driver_sql(f"DELETE FROM {table}")
    return s


def _run(store: Store, run_id: str = "r1", **kw) -> dict:  # type: ignore[no-untyped-def]
    exp = store.get_or_create_experiment("exp")
    return store.create_run(run_id=run_id, experiment_id=exp["id"], **kw)


def test_migrations_applied_on_open(store: Store) -> None:
    with store.engine.connect() as conn:
        rev = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    assert rev == HEAD_REVISION


def test_sqlite_uses_wal(tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = Store(f"sqlite:///{tmp_path / 'w.db'}")
    with s.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_head_revision_matches_alembic_scripts() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from cumulus.store.engine import MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD_REVISION


def test_experiment_get_or_create_is_idempotent(store: Store) -> None:
    a = store.get_or_create_experiment("x")
    b = store.get_or_create_experiment("x")
    assert a["id"] == b["id"]
    assert [e["name"] for e in store.list_experiments()] == ["x"]


def test_lifecycle_records_every_transition(store: Store) -> None:
    _run(store)
    for status in ("Preparing", "Running", "Finalizing", "Completed"):
        store.transition("r1", status, reason=f"to {status}")
    rec = store.get_run("r1")
    assert rec["status"] == "Completed"
    assert rec["start_time"] is not None and rec["end_time"] is not None
    events = store.status_events("r1")
    assert [e["to_status"] for e in events] == ["Queued", "Preparing", "Running", "Finalizing",
                                                "Completed"]
    assert events[2]["reason"] == "to Running"


def test_a_transition_via_intermediate_statuses_records_each_in_one_step(store: Store) -> None:
    _run(store)
    store.transition("r1", "Preparing")
    store.transition("r1", "Running")
    with pytest.raises(InvalidTransitionError, match="Completed to Finalizing"):
        store.transition("r1", "Finalizing", via=["Completed"])
    with pytest.raises(InvalidTransitionError, match="from Running to Completed"):
        store.transition("r1", "Completed", expected=["Preparing"], via=["Finalizing"])
    assert store.get_status("r1") == "Running"
    store.transition("r1", "Completed", via=["Finalizing"], reason="done", exit_code=0)
    events = store.status_events("r1")
    assert [(e["from_status"], e["to_status"], e["reason"]) for e in events[-2:]] == [
        ("Running", "Finalizing", None), ("Finalizing", "Completed", "done")]
    assert store.get_run("r1")["exit_code"] == 0


def test_a_claim_reads_the_run_and_a_final_transition_carries_metrics(store: Store) -> None:
    _run(store)
    claimed = store.claim("r1", node="n:1")
    assert claimed is not None and (claimed["status"], claimed["node"]) == ("Preparing", "n:1")
    assert store.claim("r1", node="n:2") is None               # taken: the caller reads it
    rows = [("r1", "loss", "scalar", i, 0.5 * i, None, 1.0, 1) for i in range(3)]
    with pytest.raises(InvalidTransitionError):                # refused: nothing written
        store.transition("r1", "Completed", expected=["Running"], via=["Finalizing"],
                         metrics=rows)
    assert store.get_metric_rows(["r1"]) == []
    store.transition("r1", "Completed", expected=["Preparing"], via=["Running", "Finalizing"],
                     metrics=rows, log="tail\n")
    assert [r["value"] for r in store.get_metric_rows(["r1"], "loss")] == [0.0, 0.5, 1.0]
    assert [e["to_status"] for e in store.status_events("r1")] == [
        "Queued", "Preparing", "Running", "Finalizing", "Completed"]
    assert store.read_log("r1")[0] == "tail\n"


def test_invalid_transition_rejected_and_state_kept(store: Store) -> None:
    _run(store)
    store.transition("r1", "Running")
    store.transition("r1", "Completed")
    with pytest.raises(InvalidTransitionError, match="Completed to Running"):
        store.transition("r1", "Running")
    assert store.get_status("r1") == "Completed"
    assert len(store.status_events("r1")) == 3


def test_compare_and_set_expected_status(store: Store) -> None:
    _run(store)
    assert store.try_transition("r1", "Preparing", expected=["Queued"])
    assert not store.try_transition("r1", "Preparing", expected=["Queued"])


def test_a_transition_of_an_attempt_the_run_is_past_changes_nothing(store: Store) -> None:
    _run(store)
    store.transition("r1", "Preparing")
    store.transition("r1", "Running", of_attempt=1, expected=["Preparing"])   # one source
    store.transition("r1", "Queued", expected=["Running"], attempt=2)        # taken over
    assert store.get_status_and_attempt("r1") == ("Queued", 2)
    for kwargs in ({}, {"expected": ["Queued"]}):      # the read path, and the UPDATE alone
        assert not store.try_transition("r1", "Canceled", of_attempt=1, **kwargs)
        with pytest.raises(InvalidTransitionError, match="past attempt 1"):
            store.transition("r1", "Failed", of_attempt=1, error={"message": "stale"}, **kwargs)
    assert store.get_status_and_attempt("r1") == ("Queued", 2)
    assert store.get_run("r1")["error"] is None
    assert store.try_transition("r1", "Preparing", of_attempt=2, expected=["Queued"])
    assert [e["to_status"] for e in store.status_events("r1")][-2:] == ["Queued", "Preparing"]


def test_concurrent_claims_only_one_wins(store: Store) -> None:
    _run(store)
    wins: list[bool] = []
    barrier = threading.Barrier(6)

    def claim() -> None:
        barrier.wait()
        wins.append(store.try_transition("r1", "Preparing", expected=["Queued"]))

    threads = [threading.Thread(target=claim) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 5 + [True]


def test_unknown_run(store: Store) -> None:
    with pytest.raises(RunNotFoundError, match="nope"):
        store.get_run("nope")
    with pytest.raises(RunNotFoundError):
        store.transition("nope", "Running")


def test_parent_child_and_json_fields(store: Store) -> None:
    _run(store, "p", kind="pipeline", tags={"a": 1})
    _run(store, "c1", parent_id="p", kind="step")
    _run(store, "c2", parent_id="c1", kind="child")
    assert [c["id"] for c in store.children("p")] == ["c1"]
    assert {c["id"] for c in store.children("p", recursive=True)} == {"c1", "c2"}
    merged = store.merge_run_dict("p", "tags", {"b": "x"})
    assert merged == {"a": 1, "b": "x"}
    assert store.get_run("p")["tags"] == {"a": 1, "b": "x"}


def test_metrics_bulk_insert_and_filter(store: Store) -> None:
    _run(store)
    rows = [{"run_id": "r1", "name": "loss" if i % 2 else "acc", "kind": "scalar", "step": i,
             "value": float(i), "data": None, "time": 0.0} for i in range(1000)]
    assert store.insert_metrics(rows) == 1000
    assert store.count_metrics("r1") == 1000
    loss = store.get_metric_rows(["r1"], "loss")
    assert len(loss) == 500 and loss[0]["value"] == 1.0
    after = store.get_metric_rows(["r1"], after_id=loss[-1]["id"])
    assert all(r["id"] > loss[-1]["id"] for r in after)


def test_statuses_and_metric_rows_of_few_and_of_many_runs(store: Store) -> None:
    from cumulus.store._store import COMPILED_IDS

    ids = [f"s{i:03d}" for i in range(COMPILED_IDS + 8)]        # past the compiled path
    for i, run_id in enumerate(ids):
        _run(store, run_id, status="Running" if i % 3 == 0 else "Queued")
    expected = {r: "Running" if i % 3 == 0 else "Queued" for i, r in enumerate(ids)}
    assert store.get_statuses(ids) == expected
    assert store.get_statuses(["s000", "s001", "s000", "nope"]) == {
        "s000": "Running", "s001": "Queued"}                       # repeats and unknown ids
    rows = [{"run_id": r, "name": "loss" if j % 2 else "acc", "kind": "scalar", "step": j,
             "value": float(j), "data": None, "time": 1.5} for r in ids[:3] for j in range(4)]
    store.insert_metrics(rows)
    few = store.get_metric_rows(ids[:2], "loss")
    assert [(r["run_id"], r["step"], r["value"]) for r in few] == [
        ("s000", 1, 1.0), ("s000", 3, 3.0), ("s001", 1, 1.0), ("s001", 3, 3.0)]
    later = store.get_metric_rows(ids, after_id=few[-1]["id"])  # many ids, every name
    assert [(r["run_id"], r["step"]) for r in later] == [("s002", j) for j in range(4)]
    assert isinstance(later[0]["value"], float) and later[0]["time"] == 1.5


def test_log_chunks_read_incrementally(store: Store) -> None:
    _run(store)
    store.append_log("r1", "hello\n")
    text, cursor = store.read_log("r1")
    store.append_log("r1", "world\n")
    more, cursor2 = store.read_log("r1", cursor)
    assert (text, more) == ("hello\n", "world\n") and cursor2 > cursor
    assert store.read_log("r1", cursor2) == ("", cursor2)


def test_artifacts_index_replaces_same_path(store: Store) -> None:
    _run(store)
    item = {"path": "outputs/a.txt", "datastore": "ws", "location": "runs/r1/outputs/a.txt",
            "size": 1, "checksum": None}
    store.add_artifacts("r1", [item])
    store.add_artifacts("r1", [{**item, "size": 2}])
    arts = store.list_artifacts("r1")
    assert len(arts) == 1 and arts[0]["size"] == 2


def test_compute_and_datastore_records(store: Store) -> None:
    store.computes.put("c", backend="local", config={"max_nodes": 2}, state={})
    assert store.computes.merge_state("c", address="tcp://x")["address"] == "tcp://x"
    assert [r["name"] for r in store.computes.list()] == ["c"]
    store.datastores.put("d1", "file:///tmp/x", {})
    store.datastores.put("d2", "memory://y", {}, is_default=True)
    assert store.datastores.default_name() == "d2"
    store.datastores.set_default("d1")
    assert store.datastores.default_name() == "d1"
    assert store.datastores.delete("d1") and not store.datastores.delete("d1")


def test_unreachable_store_url_is_a_clear_error() -> None:
    s = Store("postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(StoreError, match="Cannot reach the store"):
        s.get_or_create_experiment("x")


def test_unparseable_store_url() -> None:
    with pytest.raises(StoreError, match="cannot be parsed|No database driver"):
        Store("not a url").get_or_create_experiment("x")
