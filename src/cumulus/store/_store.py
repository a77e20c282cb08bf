"""The run-history store: the single source of truth for run state.

Every status change is one transaction with a compare-and-set on the current status, so two
processes can never both move a run out of ``Queued`` (a run is never executed twice).

Example::

    store = Store("sqlite:///.cumulus/store.db")
    exp = store.get_or_create_experiment("hello")
    run = store.create_run(exp_id=exp["id"], run_id="hello_1", kind="script")
    store.transition("hello_1", "Preparing")
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from itertools import pairwise
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cumulus.errors import (
    InvalidTransitionError,
    RunNotFoundError,
    StoreError,
    SweepClaimedError,
)
from cumulus.store import _hot as hot
from cumulus.store import models as m
from cumulus.store._compiled import Statements, driver_connection, statements_for
from cumulus.store._models import ModelRepository, QuotaRepository, ServiceRepository
from cumulus.store._records import ComputeRepository, DatastoreRepository, RecordRepository
from cumulus.store._retry import retry_public_methods
from cumulus.store._sweeps import SweepStateRepository
from cumulus.store._txn import full_rows, index_artifacts, insert_log, insert_metrics, metric_insert
from cumulus.store._txn import now as _now
from cumulus.store._versioned import VersionedRepository
from cumulus.store.engine import READONLY, get_engine
from cumulus.store.status import TERMINAL, RunStatus, sources_for

RUN_FIELDS = ("id", "experiment_id", "parent_id", "kind", "display_name", "status", "created_at",
              "start_time", "end_time", "status_changed_at", "heartbeat_at", "compute_target",
              "node", "attempt", "exit_code", "params", "tags", "properties", "definition",
              "error", "reuse_key")


#: what a new run's columns hold unless given (every column is written: see create_run)
_RUN_DEFAULTS: dict[str, Any] = {c.key: None for c in hot.RUNS.columns} | {"attempt": 1}


#: at most this many run ids are read through a statement compiled once per count (a sweep's
#: trials in flight); longer lists are built each time
COMPILED_IDS = 32


def _ids(run_ids: Sequence[str]) -> dict[str, str]:
    return {f"id{i}": r for i, r in enumerate(run_ids)}


def _row(obj: Any, fields: Iterable[str]) -> dict[str, Any]:
    return {f: getattr(obj, f) for f in fields}


@retry_public_methods
class Store:
    """Typed access to the store tables; one short transaction per call."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None
        self._read_engine: Engine | None = None
        self._sql: Statements | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = get_engine(self.url)
        return self._engine

    @property
    def read_engine(self) -> Engine:
        """The same pool, but transactions that only read (no SQLite write lock)."""
        if self._read_engine is None:
            self._read_engine = self.engine.execution_options(**{READONLY: True})
        return self._read_engine

    @property
    def sql(self) -> Statements:
        """The hot statements, compiled for this engine (``_compiled.py``)."""
        if self._sql is None:
            self._sql = statements_for(self.engine.dialect)
        return self._sql

    def _driver(self, *, write: bool) -> AbstractContextManager[Any]:
        """A pooled driver connection for compiled statements (``_compiled.py``)."""
        return driver_connection(self.engine, write=write)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads only: never waits for writers."""
        with Session(self.read_engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    # repositories --------------------------------------------------------------------------
    @property
    def environments(self) -> VersionedRepository:
        return VersionedRepository(self, m.EnvironmentRecord, "Environment")

    @property
    def datasets(self) -> VersionedRepository:
        return VersionedRepository(self, m.DatasetRecord, "Dataset")

    @property
    def models(self) -> ModelRepository:
        return ModelRepository(self)

    @property
    def services(self) -> ServiceRepository:
        return ServiceRepository(self)

    @property
    def quotas(self) -> QuotaRepository:
        return QuotaRepository(self)

    @property
    def sweep_states(self) -> SweepStateRepository:
        return SweepStateRepository(self)

    @property
    def records(self) -> RecordRepository:
        return RecordRepository(self)

    @property
    def datastores(self) -> DatastoreRepository:
        return DatastoreRepository(self)

    @property
    def computes(self) -> ComputeRepository:
        return ComputeRepository(self)

    # experiments ---------------------------------------------------------------------------
    def get_or_create_experiment(self, name: str) -> dict[str, Any]:
        for _ in range(3):
            with self.reading() as s:
                exp = s.scalar(select(m.Experiment).where(m.Experiment.name == name))
                if exp is not None:
                    return {"id": exp.id, "name": exp.name, "created_at": exp.created_at}
            try:
                with self.session() as s:
                    exp = m.Experiment(name=name, tags={})
                    s.add(exp)
                    s.flush()
                    return {"id": exp.id, "name": exp.name, "created_at": exp.created_at}
            except IntegrityError:
                continue  # created concurrently: read it back
        raise StoreError(f"Could not create experiment {name!r}")

    def get_experiment(self, name: str) -> dict[str, Any] | None:
        with self.reading() as s:
            exp = s.scalar(select(m.Experiment).where(m.Experiment.name == name))
            return None if exp is None else {"id": exp.id, "name": exp.name,
                                             "created_at": exp.created_at}

    def list_experiments(self) -> list[dict[str, Any]]:
        with self.reading() as s:
            rows = s.scalars(select(m.Experiment).order_by(m.Experiment.id)).all()
            return [{"id": e.id, "name": e.name, "created_at": e.created_at} for e in rows]

    def experiment_name(self, experiment_id: int) -> str:
        with self._driver(write=False) as conn:
            row = self.sql.get("experiment_name", hot.experiment_name).first(
                conn, {"id": experiment_id})
        return str(row["name"]) if row and row["name"] else ""

    # runs ----------------------------------------------------------------------------------
    def create_run(self, *, run_id: str, experiment_id: int, kind: str = "script",
                   status: str = RunStatus.QUEUED.value, reason: str | None = None,
                   while_unclaimed: tuple[str, int] | None = None,
                   **fields: Any) -> dict[str, Any]:
        """Record a run; returns its record.

        ``while_unclaimed``: ``(sweep id, pid of the controller spawned for it)``: record the
        run only while that controller has not claimed the sweep, in one transaction with
        the check (the claim waits for it, or it sees the claim); once claimed it writes
        nothing and raises SweepClaimedError.
        """
        status = RunStatus.parse(status).value
        now = _now()
        values: dict[str, Any] = {
            "id": run_id, "experiment_id": experiment_id, "kind": kind, "status": status,
            "created_at": now, "status_changed_at": now,
            **{k: fields.pop(k, None) or {} for k in ("params", "tags", "properties",
                                                      "definition")},
            **fields}
        if status == RunStatus.RUNNING.value:
            values["start_time"] = now
        if RunStatus(status) in TERMINAL:
            values["start_time"] = values.get("start_time") or now
            values["end_time"] = now
        values = {**_RUN_DEFAULTS, **values}
        sql = self.sql
        with self._driver(write=True) as conn:  # every submit writes here
            if while_unclaimed is not None:
                sweep_id, pid = while_unclaimed
                if not sql.get("sweep_unclaimed", hot.sweep_unclaimed).rowcount(
                        conn, {"w_run_id": sweep_id, "w_pid": pid, "v_pid": pid}):
                    raise SweepClaimedError(f"sweep {sweep_id} is claimed by its controller; "
                                            f"run {run_id} was not recorded")
            row = sql.get("insert_run", hot.insert_run).first(conn, hot.prefixed(values))
            sql.get("insert_event", hot.insert_event).rowcount(conn, {
                "v_run_id": run_id, "v_from_status": None, "v_to_status": status,
                "v_time": now, "v_reason": reason})
        assert row is not None    # RETURNING the row just inserted
        return {f: row[f] for f in RUN_FIELDS}

    def get_run(self, run_id: str) -> dict[str, Any]:
        rec = self.find_run(run_id)
        if rec is None:
            raise RunNotFoundError(run_id, hint="List runs with: cumulus runs list")
        return rec

    def find_run(self, run_id: str) -> dict[str, Any] | None:
        with self._driver(write=False) as conn:    # one statement: no transaction needed
            row = self.sql.get("run", hot.run_row).first(conn, {"id": run_id})
        return None if row is None else {f: row[f] for f in RUN_FIELDS}

    def runs_by_ids(self, run_ids: Sequence[str]) -> list[dict[str, Any]]:
        if not run_ids:
            return []
        with self.reading() as s:
            rows = s.scalars(select(m.Run).where(m.Run.id.in_(list(run_ids)))).all()
            return [_row(r, RUN_FIELDS) for r in rows]

    def get_status(self, run_id: str) -> str:
        with self._driver(write=False) as conn:   # watchers and executors read this
            row = self.sql.get("status", hot.run_status).first(conn, {"id": run_id})
        status = None if row is None else row["status"]
        if status is None:
            raise RunNotFoundError(run_id)
        return str(status)

    def get_status_and_attempt(self, run_id: str) -> tuple[str, int]:
        """The run's status and attempt, read together (an executor checks that its attempt
        still has the run, and whether a cancel was requested)."""
        with self._driver(write=False) as conn:
            row = self.sql.get("status_attempt", hot.run_status_attempt).first(
                conn, {"id": run_id})
        if row is None or row["status"] is None:
            raise RunNotFoundError(run_id)
        return str(row["status"]), int(row["attempt"] or 1)

    def get_statuses(self, run_ids: Sequence[str]) -> dict[str, str]:
        if not run_ids:
            return {}
        ids = list(dict.fromkeys(run_ids))
        if len(ids) <= COMPILED_IDS:   # a sweep's controller reads its trials' every step
            with self._driver(write=False) as conn:
                rows = self.sql.get(("statuses", len(ids)), lambda: hot.run_statuses(len(ids))
                                    ).all(conn, _ids(ids))
            return {str(r["id"]): str(r["status"]) for r in rows}
        runs = m.Run.__table__
        with self.read_engine.begin() as conn:
            found = conn.execute(select(runs.c.id, runs.c.status).where(runs.c.id.in_(ids)))
            return {str(k): str(v) for k, v in found.tuples().all()}

    def list_runs(self, *, experiment_id: int | None = None, parent_id: str | None = None,
                  top_level: bool = False, status: str | None = None, kind: str | None = None,
                  limit: int | None = None, newest_first: bool = True) -> list[dict[str, Any]]:
        q = select(m.Run)
        if experiment_id is not None:
            q = q.where(m.Run.experiment_id == experiment_id)
        if parent_id is not None:
            q = q.where(m.Run.parent_id == parent_id)
        elif top_level:
            q = q.where(m.Run.parent_id.is_(None))
        if status is not None:
            q = q.where(m.Run.status == RunStatus.parse(status).value)
        if kind is not None:
            q = q.where(m.Run.kind == kind)
        q = q.order_by(m.Run.created_at.desc() if newest_first else m.Run.created_at,
                       m.Run.id.desc() if newest_first else m.Run.id)
        if limit:
            q = q.limit(limit)
        with self.reading() as s:
            return [_row(r, RUN_FIELDS) for r in s.scalars(q).all()]

    def completed_with_key(self, key: str, limit: int = 5) -> list[str]:
        """Ids of completed runs with reuse key ``key``, newest first."""
        with self.reading() as s:
            return list(s.scalars(select(m.Run.id).where(m.Run.reuse_key == key,
                                                         m.Run.status == "Completed")
                                  .order_by(m.Run.created_at.desc()).limit(limit)).all())

    def completed_steps_named(self, name: str, limit: int = 25,
                              ) -> list[tuple[str, dict[str, Any]]]:
        """(id, properties) of completed child runs named ``name``, newest first."""
        with self.reading() as s:
            rows = s.execute(select(m.Run.id, m.Run.properties)
                             .where(m.Run.display_name == name, m.Run.status == "Completed",
                                    m.Run.parent_id.is_not(None))
                             .order_by(m.Run.created_at.desc()).limit(limit)).all()
        return [(str(i), dict(p or {})) for i, p in rows]

    def children(self, run_id: str, *, recursive: bool = False) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        frontier = [run_id]
        while frontier:
            with self.reading() as s:
                rows = s.scalars(select(m.Run).where(m.Run.parent_id.in_(frontier))
                                 .order_by(m.Run.created_at, m.Run.id)).all()
                batch = [_row(r, RUN_FIELDS) for r in rows]
            out.extend(batch)
            frontier = [r["id"] for r in batch] if recursive else []
        return out

    def update_run(self, run_id: str, **fields: Any) -> None:
        """Set plain fields (not status: use :meth:`transition`)."""
        if "status" in fields:
            raise StoreError("Use transition() to change a run's status.")
        with self.session() as s:
            res = s.execute(update(m.Run).where(m.Run.id == run_id).values(**fields))
            if res.rowcount == 0:  # type: ignore[attr-defined]
                raise RunNotFoundError(run_id)

    def merge_run_dict(self, run_id: str, field: str, values: dict[str, Any]) -> dict[str, Any]:
        """Merge ``values`` into a JSON field (tags, properties, params) in one transaction."""
        if field not in ("tags", "properties", "params", "definition"):
            raise StoreError(f"Field {field!r} is not a mergeable JSON field")
        sql = self.sql
        with self._driver(write=True) as conn:   # compiled: pipelines merge per run
            row = sql.get(("run_field", field), lambda: hot.run_field(field)).first(
                conn, {"id": run_id})
            if row is None:
                raise RunNotFoundError(run_id)
            merged = {**(row[field] or {}), **values}
            sql.get(("set_run", (field,), False),
                    lambda: hot.set_run((field,), check_status=False)).rowcount(
                conn, {f"v_{field}": merged, "w_id": run_id})
            return merged

    def transition(self, run_id: str, to: str | RunStatus, *, reason: str | None = None,
                   expected: Iterable[str | RunStatus] | None = None,
                   via: Sequence[str | RunStatus] = (), log: str = "",
                   artifacts: Sequence[dict[str, Any]] = (),
                   metrics: Sequence[tuple[Any, ...]] = (), of_attempt: int | None = None,
                   **fields: Any) -> dict[str, Any]:
        """Move a run to ``to`` in one transaction, or raise InvalidTransitionError.

        ``expected`` narrows the allowed source statuses (compare-and-set); ``of_attempt``
        applies it only while the run is at that attempt (an executor whose node was taken
        for lost, and whose run a later attempt took over, changes nothing); extra ``fields``
        (exit_code, error, node, ...) are written in the same transaction. ``via`` passes
        through intermediate statuses in that transaction, each recorded as its own status
        event (e.g. Running -> Finalizing -> Completed when there is nothing to finalize).
        ``log`` text, ``artifacts`` to index and ``metrics`` rows (tuples, as
        ``insert_metric_tuples`` takes them) are written in the same transaction, before
        anyone can see the new status. Returns the values written and the previous status.
        """
        hops = [RunStatus.parse(v) for v in via]
        dst = RunStatus.parse(to)
        allowed = sources_for(hops[0] if hops else dst)
        if expected is not None:
            allowed = allowed & {RunStatus.parse(e) for e in expected}
        for a, b in pairwise([*hops, dst]):
            if a not in sources_for(b):
                raise InvalidTransitionError(f"A run cannot pass from {a.value} to {b.value}.")
        now = _now()
        values: dict[str, Any] = {"status": dst.value, "status_changed_at": now, **fields}
        if dst in TERMINAL:
            values.setdefault("end_time", now)
        if RunStatus.RUNNING in (dst, *hops):
            values.setdefault("start_time", now)
            values.setdefault("heartbeat_at", now)    # its first sign of life
        sql = self.sql
        with self._driver(write=True) as conn:  # the hottest write path: compiled statements
            current = self._set_status(conn, run_id, allowed, dst, values, of_attempt)
            steps = [current, *(h.value for h in hops), dst.value]
            event = sql.get("insert_event", hot.insert_event)
            for src, to_ in pairwise(steps):
                event.rowcount(conn, {"v_run_id": run_id, "v_from_status": src,
                                      "v_to_status": to_, "v_time": now,
                                      "v_reason": reason if to_ == dst.value else None})
            insert_log(sql, conn, run_id, log)
            index_artifacts(sql, conn, run_id, artifacts)
            insert_metrics(conn, self.dialect, metrics)
            return {"id": run_id, "previous_status": current, **values}

    def claim(self, run_id: str, to: str | RunStatus = RunStatus.PREPARING, *,
              reason: str | None = None, **fields: Any) -> dict[str, Any] | None:
        """Move a Queued run to ``to`` (an executor taking it) and return its record as it
        now stands, in one transaction and one statement; None when it is not Queued (read
        it and decide: ended, cancel requested, or an earlier attempt's node was lost)."""
        dst = RunStatus.parse(to)
        if RunStatus.QUEUED not in sources_for(dst):
            raise InvalidTransitionError(f"A run cannot pass from Queued to {dst.value}.")
        now = _now()
        values: dict[str, Any] = {"status": dst.value, "status_changed_at": now, **fields}
        sql = self.sql
        with self._driver(write=True) as conn:
            row = sql.get(("claim_run", tuple(values)), lambda: hot.claim_run(tuple(values))
                          ).first(conn, {**hot.prefixed(values), "w_id": run_id,
                                         "w_status": RunStatus.QUEUED.value})
            if row is None:
                return None
            sql.get("insert_event", hot.insert_event).rowcount(conn, {
                "v_run_id": run_id, "v_from_status": RunStatus.QUEUED.value,
                "v_to_status": dst.value, "v_time": now, "v_reason": reason})
        return {f: row[f] for f in RUN_FIELDS}

    def _set_status(self, conn: Any, run_id: str, allowed: Collection[RunStatus], dst: RunStatus,
                    values: dict[str, Any], of_attempt: int | None = None) -> str:
        """Write ``values`` if the run's status is one of ``allowed`` (and it is at attempt
        ``of_attempt``, if given); returns that status. With one allowed status the
        compare-and-set is the UPDATE alone (no read first)."""
        by_attempt = of_attempt is not None
        update_ = self.sql.get(("set_run", tuple(values), True, by_attempt),
                               lambda: hot.set_run(tuple(values), check_status=True,
                                                   check_attempt=by_attempt))
        params = hot.prefixed(values)
        if of_attempt is not None:
            params["w_attempt"] = of_attempt
        if len(allowed) == 1:
            (only,) = allowed
            if update_.rowcount(conn, {**params, "w_id": run_id, "w_status": only.value}) == 1:
                return only.value
        row = self.sql.get("status", hot.run_status).first(conn, {"id": run_id})
        if row is None:
            raise RunNotFoundError(run_id)
        current = str(row["status"])
        if RunStatus(current) not in allowed:
            raise InvalidTransitionError(
                f"Run {run_id!r} cannot move from {current} to {dst.value}. Allowed from "
                f"{current}: {sorted(x.value for x in _targets(current)) or 'nothing (final)'}.")
        if update_.rowcount(conn, {**params, "w_id": run_id, "w_status": current}) != 1:
            past = f" or is past attempt {of_attempt}" if by_attempt else ""
            raise InvalidTransitionError(   # lost a race, or a later attempt has the run
                f"Run {run_id!r} changed status concurrently{past}; {dst.value} not applied.")
        return current

    def try_transition(self, run_id: str, to: str | RunStatus, **kwargs: Any) -> bool:
        """Like :meth:`transition` but returns False instead of raising on a bad transition."""
        try:
            self.transition(run_id, to, **kwargs)
            return True
        except InvalidTransitionError:
            return False

    def status_events(self, run_id: str) -> list[dict[str, Any]]:
        with self._driver(write=False) as conn:   # every wait_for_completion reads them
            return self.sql.get("status_events", hot.status_events).all(
                conn, {"run_id": run_id})

    def heartbeat(self, run_id: str) -> None:
        with self._driver(write=True) as conn:
            self.sql.get("heartbeat", lambda: hot.set_run(("heartbeat_at",), check_status=False)
                         ).rowcount(conn, {"v_heartbeat_at": _now(), "w_id": run_id})

    # metrics -------------------------------------------------------------------------------
    def insert_metrics(self, rows: Sequence[dict[str, Any]]) -> int:
        """Bulk insert rows with keys run_id, name, kind, step, value, data, time."""
        if not rows:
            return 0
        with self.engine.begin() as conn:
            conn.execute(insert(m.Metric), list(rows))
        return len(rows)

    def insert_metric_tuples(self, rows: Sequence[tuple[Any, ...]]) -> int:
        """Fast path: (run_id, name, kind, step, value, data, time[, attempt]) tuples via
        the driver (attempt 1 when left out)."""
        if not rows:
            return 0
        with self.engine.begin() as conn:
            conn.exec_driver_sql(metric_insert(self.dialect), full_rows(rows))
        return len(rows)

    def get_metric_rows(self, run_ids: Sequence[str], name: str | None = None,
                        after_id: int = 0) -> list[dict[str, Any]]:
        ids = list(dict.fromkeys(run_ids))
        if not ids:
            return []
        if len(ids) <= COMPILED_IDS:   # a sweep's controller reads its trials' every step
            key = ("metric_rows", len(ids), name is not None)
            with self._driver(write=False) as conn:
                return self.sql.get(key, lambda: hot.metric_rows(
                    len(ids), with_name=name is not None)).all(
                    conn, {**_ids(ids), "after_id": after_id, "name": name})
        t = m.Metric.__table__
        q = select(t).where(t.c.run_id.in_(ids), t.c.id > after_id)
        if name is not None:
            q = q.where(t.c.name == name)
        with self.read_engine.connect() as conn:
            return [dict(r) for r in conn.execute(q.order_by(t.c.id)).mappings()]

    def count_metrics(self, run_id: str) -> int:
        from sqlalchemy import func

        with self.read_engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(m.Metric)
                                .where(m.Metric.run_id == run_id)).scalar_one()

    # logs ----------------------------------------------------------------------------------
    def append_log(self, run_id: str, text: str, stream: str = "std_log") -> None:
        if not text:
            return
        with self._driver(write=True) as conn:
            insert_log(self.sql, conn, run_id, text, stream)

    def read_log(self, run_id: str, after_id: int = 0,
                 stream: str | None = None) -> tuple[str, int]:
        """Log text written after chunk ``after_id``, and the id to continue from."""
        with self._driver(write=False) as conn:    # followers read it as it is written
            rows = self.sql.get(("read_log", bool(stream)),
                                lambda: hot.read_log(with_stream=bool(stream))).all(
                conn, {"run_id": run_id, "after_id": after_id, "stream": stream})
        if not rows:
            return "", after_id
        return "".join(r["text"] for r in rows), rows[-1]["id"]

    # artifacts -----------------------------------------------------------------------------
    def add_artifacts(self, run_id: str, items: Sequence[dict[str, Any]]) -> None:
        """Index artifacts (path, datastore, location, size, checksum); replaces same paths."""
        if not items:
            return
        with self._driver(write=True) as conn:
            index_artifacts(self.sql, conn, run_id, items)

    def remove_artifacts(self, run_id: str, prefix: str, keep: str | None = None) -> int:
        """Drop the index entries of ``run_id`` under ``prefix`` (but those under ``keep``);
        returns how many."""
        q = delete(m.Artifact).where(m.Artifact.run_id == run_id,
                                     m.Artifact.path.startswith(prefix))
        if keep:
            q = q.where(~m.Artifact.path.startswith(keep))
        with self.session() as s:
            return int(getattr(s.execute(q), "rowcount", 0) or 0)

    def list_artifacts(self, run_id: str, prefix: str | None = None) -> list[dict[str, Any]]:
        q = select(m.Artifact).where(m.Artifact.run_id == run_id)
        if prefix:
            q = q.where(m.Artifact.path.startswith(prefix))
        with self.reading() as s:
            return [_row(a, ("path", "datastore", "location", "size", "checksum", "created_at"))
                    for a in s.scalars(q.order_by(m.Artifact.path)).all()]

    # compute targets' runs ------------------------------------------------------------
    def active_runs_on(self, target: str) -> list[dict[str, Any]]:
        with self.reading() as s:
            rows = s.scalars(select(m.Run).where(
                m.Run.compute_target == target,
                m.Run.status.not_in([x.value for x in TERMINAL]))).all()
            return [_row(r, RUN_FIELDS) for r in rows]


def _targets(status: str) -> set[RunStatus]:
    from cumulus.store.status import TRANSITIONS

    return set(TRANSITIONS[RunStatus(status)])
