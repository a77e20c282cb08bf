"""Fixtures for the compute tests: a workspace whose managers are all stopped afterwards,
and a folder of run scripts."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))    # for _compute_helpers
from _compute_helpers import SCRIPTS, stop_all


@pytest.fixture(scope="module")
def cws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A workspace for one test module; all its compute targets are stopped at the end."""
    from cumulus import Workspace

    ws = Workspace.create("computews", path=tmp_path_factory.mktemp("cws"))
    yield ws
    stop_all(ws)


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("compute_src")
    for name, text in SCRIPTS.items():
        (folder / name).write_text(text)
    return folder
