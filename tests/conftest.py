"""Shared fixtures: real services, started once per test session.

- ``pg_url``: a fresh schema in the PostgreSQL at 127.0.0.1:5432 (database ``test``).
- ``workspace``: a session workspace on SQLite with a running ``local`` compute target
  (one warm node), reused by the run tests; ``fresh_workspace``: a new one per test, no compute.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
_CACHE = tempfile.mkdtemp(prefix="cumulus-test-cache-")
os.environ["CUMULUS_CACHE_DIR"] = _CACHE

PG_BASE = os.environ.get("CUMULUS_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_BASE.replace("+psycopg", ""), connect_timeout=3):
            return True
    except Exception:
        return False


@contextmanager
def _pg_schema(prefix: str) -> Iterator[str]:
    """A store URL on PostgreSQL with a fresh schema named ``prefix_<random>``, dropped after."""
    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {PG_BASE}; CI must start it")
        pytest.skip(f"PostgreSQL is not reachable at {PG_BASE}")
    import psycopg

    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    raw = PG_BASE.replace("+psycopg", "")
    with psycopg.connect(raw, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG_BASE}?options=-csearch_path%3D{schema}"
    finally:
        from cumulus.store import dispose_all

        dispose_all()
        with psycopg.connect(raw, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def own_pg_url() -> Iterator[str]:
    """A schema for this test alone (workspaces that register datastores or targets there
    cannot leak them into other tests)."""
    with _pg_schema("cumulus_own") as url:
        yield url


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A schema shared by the session's PostgreSQL tests."""
    with _pg_schema("cumulus_test") as url:
        yield url


def _stop_compute(ws) -> None:  # type: ignore[no-untyped-def]
    from cumulus.compute._base import backend_class
    from cumulus.compute._config import ClusterConfig
    from cumulus.services import stop_services

    try:     # first what submits runs (a sweep left running by a failed test would start
        # the target again), then the targets
        stop_services(ws, kinds=["sweep-controller", "pipeline-agent", "model-service"])
    except Exception:
        pass
    try:
        records = ws.store.computes.list()
    except Exception:
        return
    for rec in records:
        try:
            backend_class(rec["backend"])(ws, rec["name"],
                                          ClusterConfig.from_dict(rec["config"])).stop()
        except Exception:
            pass


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A workspace shared by the run tests, with its ``local`` target warm (1 node kept)."""
    from cumulus import Workspace

    root = tmp_path_factory.mktemp("ws")
    ws = Workspace.create("testws", path=root,
                          local_compute={"min_nodes": 1, "max_nodes": 2,
                                         "idle_seconds_before_scaledown": 30})
    from cumulus.compute import ComputeTarget

    ComputeTarget(ws, "local").wait_for_completion(min_node_count=1, timeout_in_minutes=2)
    yield ws
    _stop_compute(ws)


@pytest.fixture
def fresh_workspace(tmp_path: Path) -> Iterator[object]:
    """A new, empty workspace per test (no compute started)."""
    from cumulus import Workspace

    ws = Workspace.create("fresh", path=tmp_path)
    yield ws
    _stop_compute(ws)


@pytest.fixture
def script_dir(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write scripts into a fresh source folder: ``script_dir({"train.py": "..."})``."""
    def make(files: dict[str, str]) -> Path:
        src = tmp_path / f"src_{uuid.uuid4().hex[:6]}"
        src.mkdir()
        for name, text in files.items():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_text(text)
        return src
    return make


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from cumulus.compute._client import close_all
    from cumulus.flows._server import stop_server

    close_all()
    stop_server()        # the session's Prefect server, shared by its workspaces (if started)
    shutil.rmtree(_CACHE, ignore_errors=True)
