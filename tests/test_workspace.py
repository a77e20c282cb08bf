"""Workspace creation, discovery and cumulus.yaml validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from cumulus import Workspace
from cumulus.errors import ConfigError, WorkspaceNotFoundError


def test_create_writes_config_and_embedded_defaults(tmp_path: Path) -> None:
    ws = Workspace.create("demo", path=tmp_path)
    assert (tmp_path / "cumulus.yaml").read_text().startswith("name: demo")
    details = ws.get_details()
    assert details["store"].startswith("sqlite:///") and ".cumulus" in details["store"]
    assert details["default_datastore"] == "workspacestore"
    assert details["default_compute"] == "local"
    ws.store.get_or_create_experiment("e")
    assert (tmp_path / ".cumulus" / "store.db").exists()
    assert ws.get_default_datastore().name == "workspacestore"


def test_from_config_finds_parent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Workspace.create("demo", path=tmp_path)
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert Workspace.from_config().root == tmp_path.resolve()


def test_from_config_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(WorkspaceNotFoundError, match="cumulus init"):
        Workspace.from_config()


def test_exist_ok(tmp_path: Path) -> None:
    Workspace.create("demo", path=tmp_path)
    assert Workspace.create("demo", path=tmp_path).name == "demo"
    with pytest.raises(ConfigError, match="exists already"):
        Workspace.create("demo", path=tmp_path, exist_ok=False)
    with pytest.raises(ConfigError, match="holds workspace 'demo'"):
        Workspace.create("other", path=tmp_path)


def test_unknown_key_named_with_suggestion(tmp_path: Path) -> None:
    (tmp_path / "cumulus.yaml").write_text("name: x\nstroe: sqlite:///a.db\n")
    with pytest.raises(ConfigError) as exc:
        Workspace.from_config(tmp_path)
    msg = str(exc.value)
    assert "unknown key 'stroe'" in msg and "Did you mean 'store'" in msg
    assert "'default_datastore'" in msg  # lists the allowed keys


def test_nested_unknown_key(tmp_path: Path) -> None:
    (tmp_path / "cumulus.yaml").write_text(
        "name: x\ndatastores:\n  blob: {url: 'az://c', credentials: X}\n")
    with pytest.raises(ConfigError, match="Did you mean 'credential_env'"):
        Workspace.from_config(tmp_path)


def test_bad_value_type(tmp_path: Path) -> None:
    (tmp_path / "cumulus.yaml").write_text("name: x\nlocal_compute: {min_nodes: -1}\n")
    with pytest.raises(ConfigError, match="local_compute.min_nodes"):
        Workspace.from_config(tmp_path)


@pytest.mark.parametrize("text", ["name: [unclosed\n", "- just\n- a list\n", ""])
def test_corrupt_yaml(tmp_path: Path, text: str) -> None:
    (tmp_path / "cumulus.yaml").write_text(text)
    with pytest.raises(ConfigError, match="cumulus init|not valid YAML"):
        Workspace.from_config(tmp_path)


def test_relative_sqlite_store_is_relative_to_workspace(tmp_path: Path) -> None:
    ws = Workspace.create("demo", path=tmp_path, store="sqlite:///db/runs.db")
    assert ws.store_url == f"sqlite:///{tmp_path.resolve() / 'db' / 'runs.db'}"


def test_postgres_store(tmp_path: Path, pg_url: str) -> None:
    ws = Workspace.create("pg", path=tmp_path, store=pg_url)
    ws.store.get_or_create_experiment("e")
    again = Workspace.from_config(tmp_path)
    assert "e" in again.experiments
    assert "postgresql" in again.get_details()["store"]


def test_payload_roundtrip(tmp_path: Path) -> None:
    ws = Workspace.create("demo", path=tmp_path)
    clone = Workspace.from_payload(ws.payload())
    assert clone.root == ws.root and clone.store_url == ws.store_url
