"""Workspace: the root of configuration, run history, datastores and compute targets.

A workspace is a folder with a ``cumulus.yaml``. With no other settings it uses embedded
defaults that need nothing installed: a SQLite store and a datastore folder under
``.cumulus/``, and the compute target ``local`` (worker processes on this machine).

Example::

    ws = Workspace.create("demo", path=".", exist_ok=True)
    ws = Workspace.from_config()      # finds cumulus.yaml in the cwd or any parent
    print(ws.get_details())
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cumulus.config import (
    CONFIG_FILE,
    DEFAULT_DATASTORE,
    WorkspaceConfig,
    dump_config,
    load_config,
    parse_config,
)
from cumulus.errors import ConfigError, WorkspaceNotFoundError

if TYPE_CHECKING:
    from cumulus.compute import ComputeTarget
    from cumulus.datastores import Datastore
    from cumulus.experiment import Experiment
    from cumulus.store import Store

STATE_DIR = ".cumulus"
DEFAULT_DS_TTL = 5.0  # seconds a looked-up default datastore is reused


class Workspace:
    """A Cumulus workspace: configuration plus the store, datastores and compute it names."""

    def __init__(self, config: WorkspaceConfig, root: str | Path) -> None:
        self.config = config
        self.root = Path(root).resolve()

    # construction ------------------------------------------------------------------------
    @classmethod
    def create(cls, name: str, path: str | Path = ".", *, exist_ok: bool = True,
               store: str | None = None, **settings: Any) -> Workspace:
        """Create a workspace in ``path`` (writes cumulus.yaml) or open the existing one."""
        root = Path(path).resolve()
        cfg_path = root / CONFIG_FILE
        if cfg_path.exists():
            if not exist_ok:
                raise ConfigError(f"{cfg_path} exists already. Pass exist_ok=True to open it.")
            ws = cls.from_config(cfg_path)
            if ws.name != name:
                raise ConfigError(
                    f"{cfg_path} holds workspace {ws.name!r}, not {name!r}. Choose another "
                    "path, or open it with Workspace.from_config().")
            return ws
        config = parse_config({"name": name, **({"store": store} if store else {}), **settings},
                              "workspace settings")
        root.mkdir(parents=True, exist_ok=True)
        ws = cls(config, root)
        ws.write_config()
        ws._ensure_state_dir()
        return ws

    @classmethod
    def from_config(cls, path: str | Path | None = None) -> Workspace:
        """Open the workspace whose cumulus.yaml is at ``path`` or in the cwd or any parent."""
        cfg_path = find_config(Path(path) if path else Path.cwd())
        return cls(load_config(cfg_path), cfg_path.parent)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Workspace:
        """Rebuild a workspace shipped to a worker process (see :meth:`payload`)."""
        return cls(WorkspaceConfig.model_validate(payload["config"]), payload["root"])

    def payload(self) -> dict[str, Any]:
        """A picklable description of this workspace for worker processes."""
        return {"config": self.config.model_dump(mode="json"), "root": str(self.root),
                "store_url": self.store_url}

    def write_config(self, path: str | Path | None = None) -> Path:
        """Write cumulus.yaml into ``path`` (a folder or file; default: the workspace root)."""
        target = Path(path) if path else self.root
        if target.is_dir() or target.suffix not in (".yaml", ".yml"):
            target = target / CONFIG_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(dump_config(self.config))
        return target

    # properties --------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.config.name

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def store_url(self) -> str:
        key = (self.config.store, self.root)     # resolved once per configured value
        hit = self.__dict__.get("_store_url")
        if hit is not None and hit[0] == key:
            return str(hit[1])
        url = self._resolve_store_url()
        self.__dict__["_store_url"] = (key, url)
        return url

    def _resolve_store_url(self) -> str:
        if self.config.store:
            url = os.path.expandvars(self.config.store)
            if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
                rel = url[len("sqlite:///"):]
                if rel and rel != ":memory:":
                    return f"sqlite:///{(self.root / rel).resolve()}"
            return url
        return f"sqlite:///{self.state_dir / 'store.db'}"

    @cached_property
    def store(self) -> Store:
        from cumulus.store import Store

        self._ensure_state_dir()
        return Store(self.store_url)

    def _ensure_state_dir(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        ignore = self.state_dir / ".gitignore"
        if not ignore.exists():
            ignore.write_text("*\n")

    # registries --------------------------------------------------------------------------
    @property
    def experiments(self) -> dict[str, Experiment]:
        from cumulus.experiment import Experiment

        return {e["name"]: Experiment(self, e["name"]) for e in self.store.list_experiments()}

    @property
    def compute_targets(self) -> dict[str, ComputeTarget]:
        from cumulus.compute import list_targets

        return list_targets(self)

    @property
    def datastores(self) -> dict[str, Datastore]:
        from cumulus.datastores import Datastore

        return Datastore.list(self)

    def get_default_datastore(self) -> Datastore:
        """The default datastore (looked up at most every few seconds: it is on hot paths)."""
        import time

        from cumulus.datastores import Datastore

        cached = self.__dict__.get("_default_ds")
        if cached is not None and time.monotonic() - cached[0] < DEFAULT_DS_TTL:
            return cached[1]
        ds = Datastore.get_default(self)
        self.__dict__["_default_ds"] = (time.monotonic(), ds)
        return ds

    def forget_default_datastore(self) -> None:
        """The next :meth:`get_default_datastore` looks it up afresh (it was changed, or a
        new run must see the current one)."""
        self.__dict__.pop("_default_ds", None)

    def default_datastore_url(self) -> str:
        return (self.state_dir / "datastore").as_uri()

    def get_details(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "root": str(self.root),
            "config_file": str(self.root / CONFIG_FILE),
            "store": _redact(self.store_url),
            "default_datastore": self.config.default_datastore or DEFAULT_DATASTORE,
            "default_compute": self.config.default_compute,
            "prefect_api_url": self.config.prefect_api_url or "ephemeral",
        }

    def __repr__(self) -> str:
        return f"Workspace(name={self.name!r}, root={str(self.root)!r})"


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def find_config(start: Path) -> Path:
    start = start.resolve()
    if start.is_file():
        return start
    for folder in (start, *start.parents):
        candidate = folder / CONFIG_FILE
        if candidate.is_file():
            return candidate
    raise WorkspaceNotFoundError(
        f"No {CONFIG_FILE} in {start} or any parent folder. Create one with `cumulus init` "
        "or Workspace.create(name, path='.')."
    )
