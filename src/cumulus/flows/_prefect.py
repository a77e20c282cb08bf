"""Which Prefect API pipelines talk to, the workspace's own Prefect server, and a REST client.

Resolution order for a workspace: ``prefect_api_url`` in cumulus.yaml (the word ``ephemeral``
selects Prefect's per-process ephemeral mode), else ``PREFECT_API_URL`` in the environment,
else the installation's own ``prefect server start``, shared by its workspaces and started
on first need (see ``_server.py``). Ephemeral mode has no scheduler
and starts a temporary server in every pipeline process, so the embedded default is a real
server that also serves the UI and runs schedules.

The control plane (deployments, schedules, flow runs) uses Prefect's REST API through httpx,
so defining schedules or serving them never imports ``prefect`` (4-7 s).

Example::

    url = resolve_api(ws, start=True)        # http://127.0.0.1:PORT/api
    api = PrefectAPI(url)
    deployments = api.deployments("cumulus")
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from cumulus.errors import ConfigError, PipelineError
from cumulus.flows._server import (
    LocalServer,
)

if TYPE_CHECKING:
    from cumulus.workspace import Workspace

EPHEMERAL = "ephemeral"


def resolve_api(ws: Workspace, *, start: bool) -> str | None:
    """The Prefect API URL for ``ws``'s pipelines; None means ephemeral mode."""
    configured = ws.config.prefect_api_url
    if configured:
        return None if configured.strip().lower() == EPHEMERAL else configured.rstrip("/")
    env = os.environ.get("PREFECT_API_URL")
    if env:
        return env.rstrip("/")
    server = LocalServer(ws)
    return server.ensure() if start else server.url_if_alive()




_import_lock = threading.Lock()
_imported: list[bool] = []


def import_prefect_client() -> None:
    """Import Prefect's client modules once per process, one thread at a time.

    Prefect's modules import each other in cycles: two threads importing them for the first
    time at once (a serve loop and a schedule being registered) can deadlock, and Python then
    fails one of the imports ("deadlock detected by _ModuleLock"), leaving that thread stuck.
    """
    if _imported:
        return
    with _import_lock:
        if not _imported:
            import prefect.client.orchestration
            import prefect.client.schemas.actions
            import prefect.client.schemas.filters
            import prefect.client.schemas.objects
            import prefect.client.schemas.sorting
            import prefect.deployments.runner
            import prefect.exceptions
            import prefect.runner  # noqa: F401
            _imported.append(True)


class PrefectAPI:
    """What schedules and triggers ask of Prefect, through Prefect's own client.

    A thin facade over ``prefect.client.orchestration.SyncPrefectClient`` bound to one API
    URL (Prefect's client retries busy answers itself); records come back as JSON dicts, so
    callers stay independent of Prefect's response classes. Prefect is imported only when the
    first call is made.
    """

    def __init__(self, url: str, timeout: float = 20.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._client: Any = None
        import_prefect_client()

    @property
    def client(self) -> Any:
        if self._client is None:
            from prefect.client.orchestration import SyncPrefectClient

            self._client = SyncPrefectClient(self.url, httpx_settings={"timeout": self.timeout})
            self._client.__enter__()
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.__exit__(None, None, None)
            self._client = None

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """One call through Prefect's client; an unreachable API is a ConfigError saying
        what to start, any other refusal a PipelineError naming the call."""
        import httpx

        try:
            return fn(*args, **kwargs)
        except httpx.TransportError as exc:
            raise ConfigError(f"Cannot reach the Prefect API at {self.url}: {exc}. Start "
                              "it with `cumulus schedule serve` (or `prefect server "
                              "start`), or fix prefect_api_url in cumulus.yaml.") from None
        except httpx.HTTPStatusError as exc:
            raise PipelineError(f"Prefect API {what} answered {exc.response.status_code}: "
                                f"{exc.response.text[:500]}") from None

    def ui_url(self, flow_run_id: str) -> str:
        base = self.url[:-4] if self.url.endswith("/api") else self.url
        return f"{base}/runs/flow-run/{flow_run_id}"

    def delete_deployment(self, deployment_id: str) -> None:
        from uuid import UUID

        from prefect.exceptions import ObjectNotFound

        try:
            self._call("delete deployment", self.client.delete_deployment, UUID(deployment_id))
        except ObjectNotFound:
            pass

    def deployments(self, tag: str) -> list[dict[str, Any]]:
        from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags
        from prefect.client.schemas.sorting import DeploymentSort

        # limit and sort given: Prefect's server refuses the nulls its client sends otherwise
        found = self._call("read deployments", self.client.read_deployments,
                           deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(
                               all_=[tag])), limit=200, sort=DeploymentSort.NAME_ASC)
        return [d.model_dump(mode="json") for d in found]

    def flow_run(self, flow_run_id: str) -> dict[str, Any] | None:
        """The flow run as JSON, or None when Prefect has no such flow run (deleted)."""
        from uuid import UUID

        from prefect.exceptions import ObjectNotFound

        try:
            found = self._call("read flow run", self.client.read_flow_run, UUID(flow_run_id))
        except ObjectNotFound:
            return None
        return dict(found.model_dump(mode="json"))

    def flow_runs(self, deployment_id: str) -> list[dict[str, Any]]:
        from uuid import UUID

        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId
        from prefect.client.schemas.sorting import FlowRunSort

        flt = FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[UUID(deployment_id)]))
        return self._flow_runs(flt, FlowRunSort.EXPECTED_START_TIME_DESC)

    def _flow_runs(self, flt: Any, sort: Any) -> list[dict[str, Any]]:
        found = self._call("read flow runs", self.client.read_flow_runs, flow_run_filter=flt,
                           sort=sort, limit=200)
        return [f.model_dump(mode="json") for f in found]

    def set_state(self, flow_run_id: str, type_: str, name: str, message: str = "",
                  force: bool = False) -> str:
        from prefect.client.schemas.objects import State, StateType

        state: Any = State(type=StateType(type_), name=name, message=message)
        result = self._call("set flow run state", self.client.set_flow_run_state,
                            flow_run_id, state, force=force)
        return str(getattr(result.status, "value", result.status))

    def create_flow_run(self, deployment_id: str, parameters: dict[str, Any],
                        tags: list[str] | None = None) -> dict[str, Any]:
        from uuid import UUID

        made = self._call("create flow run", self.client.create_flow_run_from_deployment,
                          UUID(deployment_id), parameters=parameters, tags=tags or [])
        return dict(made.model_dump(mode="json"))

