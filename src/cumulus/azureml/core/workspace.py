"""``azureml.core.workspace``: a workspace is a Cumulus workspace (a folder with ``cumulus.yaml``).

``Workspace.from_config()`` opens the ``cumulus.yaml`` in the working folder or a parent; when
there is none but an Azure ``config.json`` (or ``.azureml/config.json``) is there, a Cumulus
workspace named after its ``workspace_name`` is created beside it, so a notebook that starts
with ``Workspace.from_config()`` runs as it is. Subscription, resource group, location and
authentication are accepted and kept on the object (``ws.subscription_id``...), and reported.
"""

from __future__ import annotations

import builtins
import json
from pathlib import Path
from typing import Any

from cumulus.azureml._compat import azure_only
from cumulus.config import WorkspaceConfig
from cumulus.errors import WorkspaceNotFoundError
from cumulus.workspace import Workspace as _NativeWorkspace
from cumulus.workspace import find_config

AZURE_CONFIG = ("config.json", ".azureml/config.json", "aml_config/config.json")


class Workspace(_NativeWorkspace):
    """The SDK's Workspace over a Cumulus workspace.

    ``Workspace(subscription_id, resource_group, workspace_name)`` opens (or creates, in the
    working folder) the Cumulus workspace of that name.
    """

    def __init__(self, subscription_id: Any = None, resource_group: str | None = None,
                 workspace_name: str | None = None, auth: Any = None,
                 _location: str | None = None, **kwargs: Any) -> None:
        if isinstance(subscription_id, WorkspaceConfig):  # the native constructor
            super().__init__(subscription_id, resource_group or kwargs.pop("root", "."))
            self._azure: dict[str, Any] = {}
            return
        if not workspace_name:
            raise WorkspaceNotFoundError(
                "Workspace(subscription_id, resource_group, workspace_name) needs "
                "workspace_name. Or open the workspace of this folder: "
                "Workspace.from_config().")
        native = _open_or_create(workspace_name, Path.cwd())
        super().__init__(native.config, native.root)
        self._azure = _azure_settings(subscription_id=subscription_id,
                                      resource_group=resource_group, location=_location,
                                      auth=auth)

    # construction -------------------------------------------------------------------------
    @classmethod
    def from_config(cls, path: str | Path | None = None, auth: Any = None,
                    _logger: Any = None, _file_name: str | None = None) -> Workspace:
        start = Path(path) if path else Path.cwd()
        azure = _azure_settings(auth=auth)
        try:
            ws = super().from_config(start)
            found = _find_azure_config(ws.root, _file_name, walk=False)
        except WorkspaceNotFoundError:
            found = _find_azure_config(start, _file_name)
            if found is None:
                raise
            doc = json.loads(found.read_text())
            name = doc.get("workspace_name") or found.parent.name
            root = found.parent.parent if found.parent.name in (".azureml", "aml_config") \
                else found.parent
            ws = cls.create(name, path=root, exist_ok=True)
        if found is not None:
            doc = json.loads(found.read_text())
            azure.update(_azure_settings(subscription_id=doc.get("subscription_id"),
                                         resource_group=doc.get("resource_group")))
        assert isinstance(ws, Workspace)
        ws._azure = {**getattr(ws, "_azure", {}), **azure}
        return ws

    @classmethod
    def create(cls, name: str, path: str | Path = ".", *, exist_ok: bool = False,
               store: str | None = None, auth: Any = None, subscription_id: Any = None,
               resource_group: str | None = None, location: str | None = None,
               create_resource_group: bool = True, sku: str = "basic",
               show_output: bool = True, **azure: Any) -> Workspace:
        """Create the workspace in ``path`` (the working folder by default)."""
        ws = super().create(name, path, exist_ok=exist_ok, store=store)
        assert isinstance(ws, Workspace)
        ws._azure = _azure_settings(subscription_id=subscription_id,
                                    resource_group=resource_group, location=location,
                                    auth=auth, **azure)
        if show_output:
            print(f"Workspace {ws.name!r} at {ws.root}")
        return ws

    @classmethod
    def get(cls, name: str, auth: Any = None, subscription_id: Any = None,
            resource_group: str | None = None, **_: Any) -> Workspace:
        """The workspace ``name``: the one of this folder (or a parent), else a new one here."""
        ws = _open_or_create(name, Path.cwd())
        ws._azure = _azure_settings(subscription_id=subscription_id,
                                    resource_group=resource_group, auth=auth)
        return ws

    @staticmethod
    def list(subscription_id: Any = None, auth: Any = None,
             resource_group: str | None = None) -> dict[str, list[Workspace]]:
        """The workspace of this folder, as ``{name: [ws]}`` (there is no subscription here)."""
        try:
            ws = Workspace.from_config()
        except WorkspaceNotFoundError:
            return {}
        return {ws.name: [ws]}

    def write_config(self, path: str | Path | None = None, file_name: str | None = None,
                     ) -> Path:
        return super().write_config(path)

    # Azure properties (recorded, not used) ------------------------------------------------
    @property
    def subscription_id(self) -> str | None:
        return getattr(self, "_azure", {}).get("subscription_id")

    @property
    def resource_group(self) -> str | None:
        return getattr(self, "_azure", {}).get("resource_group")

    @property
    def location(self) -> str:
        return str(getattr(self, "_azure", {}).get("location") or "local")

    @property
    def sku(self) -> str:
        return "cumulus"

    @property
    def service_context(self) -> Any:
        return self

    def get_details(self) -> dict[str, Any]:
        details = super().get_details()
        details.update({"id": str(self.root), "location": self.location,
                        "subscriptionId": self.subscription_id,
                        "resourceGroup": self.resource_group})
        return details

    # registries ---------------------------------------------------------------------------
    @property
    def compute_targets(self) -> dict[str, Any]:
        from cumulus.azureml.core.compute import AmlCompute

        return {name: AmlCompute(self, name) for name in super().compute_targets}

    @property
    def datastores(self) -> dict[str, Any]:
        return super().datastores

    @property
    def datasets(self) -> dict[str, Any]:
        from cumulus.azureml.core.dataset import Dataset

        return {name: Dataset.get_by_name(self, name)
                for name in self.store.datasets.names()}

    @property
    def environments(self) -> dict[str, Any]:
        from cumulus.azureml.core.environment import Environment

        return Environment.list(self)

    @property
    def models(self) -> dict[str, builtins.list[Any]]:
        from cumulus.models import Model

        out: dict[str, builtins.list[Any]] = {}
        for m in Model.list(self):
            out.setdefault(m.name, []).append(m)
        return out

    @property
    def webservices(self) -> dict[str, Any]:
        from cumulus.models import Webservice

        return {s.name: s for s in Webservice.list(self)}

    def set_default_datastore(self, name: str) -> None:
        from cumulus.datastores import Datastore

        Datastore.get(self, name).set_as_default()


def _azure_settings(**values: Any) -> dict[str, Any]:
    out = {}
    for key, value in values.items():
        if value is None:
            continue
        if key == "auth":
            azure_only("auth", type(value).__name__, "Cumulus uses the workspace folder's "
                       "configuration; no sign-in is needed")
            continue
        azure_only(key, value, "recorded on the workspace, not used")
        out[key] = value
    return out


def _open_or_create(name: str, start: Path) -> Workspace:
    try:
        cfg = find_config(start)
    except WorkspaceNotFoundError:
        return Workspace.create(name, path=start, exist_ok=True, show_output=False)
    ws = Workspace.from_config(cfg)
    if ws.name != name:
        raise WorkspaceNotFoundError(
            f"The workspace here ({cfg}) is {ws.name!r}, not {name!r}. Open it with "
            f"Workspace.from_config(), or run in a folder without a cumulus.yaml to create "
            f"{name!r} there.")
    return ws


def _find_azure_config(start: Path, file_name: str | None, walk: bool = True) -> Path | None:
    start = start.resolve()
    if start.is_file():
        return start if start.suffix == ".json" else None
    names = (file_name,) if file_name else AZURE_CONFIG
    for folder in (start, *start.parents) if walk else (start,):
        for name in names:
            candidate = folder / name
            if candidate.is_file():
                return candidate
    return None


__all__ = ["Workspace"]
