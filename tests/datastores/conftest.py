"""Datastore fixtures: one real Azurite per test session, containers per test.

The connection string goes into ``CUMULUS_TEST_AZURE_CS`` when this file is imported (test
collection), before any compute node starts, so nodes inherit it: credentials are referenced
by variable name and must be present on every node.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from azurite import AZ_ENV, SETUP_HINT, Azurite, find_azurite

_AZURITE = Azurite() if find_azurite() else None
if _AZURITE is not None:
    os.environ[AZ_ENV] = _AZURITE.connection_string


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """The session's Azurite (started on first use); skips, or fails in CI, if missing."""
    if _AZURITE is None:
        if os.environ.get("CI"):
            pytest.fail(f"Azurite is not installed; {SETUP_HINT}")
        pytest.skip(f"Azurite is not installed; {SETUP_HINT}")
    _AZURITE.start()
    yield _AZURITE
    _AZURITE.stop()


@pytest.fixture
def container(azurite: Azurite) -> str:
    """A new, empty container."""
    return azurite.create_container(f"t{uuid.uuid4().hex[:12]}")


@pytest.fixture
def account_key(azurite: Azurite) -> str:
    return azurite.key


def make_datastore(ws: Any, kind: str, name: str, tmp: Path, container: str | None = None):
    """Register a datastore of ``kind`` (local, memory or az) in ``ws``."""
    from cumulus.datastores import Datastore

    if kind == "local":
        return Datastore.register(ws, name, (tmp / f"store-{name}").as_uri())
    if kind == "memory":
        return Datastore.register(ws, name, f"memory://{uuid.uuid4().hex[:10]}/data")
    return Datastore.register(ws, name, f"az://{container}/pre", credential_env=AZ_ENV)


@pytest.fixture
def datastore_of(request: pytest.FixtureRequest, fresh_workspace: Any, tmp_path: Path):
    """``datastore_of(kind)``: a new local, memory or az datastore in a fresh workspace."""
    def make(kind: str):  # type: ignore[no-untyped-def]
        cont = request.getfixturevalue("container") if kind == "az" else None
        return make_datastore(fresh_workspace, kind, f"ds-{kind}", tmp_path, cont)
    return make


@pytest.fixture(params=["local", "memory", "az"])
def any_datastore(request: pytest.FixtureRequest, datastore_of: Any):
    """The conformance suite's datastore: local folder, memory, Azure Blob (Azurite)."""
    return datastore_of(request.param)


@pytest.fixture
def blob(fresh_workspace: Any, container: str):
    """An Azure Blob datastore on Azurite in a fresh workspace."""
    from cumulus.datastores import Datastore

    return Datastore.register(fresh_workspace, "blob", f"az://{container}/data",
                              credential_env=AZ_ENV)
