"""Which Prefect API pipelines talk to, the workspace's own Prefect server, and a REST client.

Resolution order for a workspace: ``prefect_api_url`` in cumulus.yaml (the word ``ephemeral``
selects Prefect's per-process ephemeral mode), else ``PREFECT_API_URL`` in the environment,
else the workspace's own ``prefect server start`` (state in ``.cumulus/prefect/server.json``,
database under ``.cumulus/prefect``), started on first need. Ephemeral mode has no scheduler
and starts a temporary server in every pipeline process, so the embedded default is a real
server that also serves the UI and runs schedules.

The control plane (deployments, schedules, flow runs) uses Prefect's REST API through httpx,
so defining schedules or serving them never imports ``prefect`` (4-7 s).

Example::

    url = resolve_api(ws, start=True)        # http://127.0.0.1:PORT/api
    api = PrefectAPI(url)
    flow_id = api.ensure_flow("train")
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cumulus._procs import ProcessRef, pid_alive, stop_group
from cumulus.errors import ConfigError, PipelineError

if TYPE_CHECKING:
    from cumulus.workspace import Workspace

EPHEMERAL = "ephemeral"
START_TIMEOUT = 120.0
SERVER_ENV = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false",
              "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90"}


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




def healthy(url: str, timeout: float = 2.0) -> bool:
    import httpx

    try:
        return httpx.get(f"{url.rstrip('/')}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def wait_healthy(url: str, timeout: float = START_TIMEOUT, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if healthy(url):
            return
        time.sleep(0.25)
    tail = ""
    if log and log.exists():
        tail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
    raise PipelineError(f"The Prefect server at {url} did not answer within {timeout:.0f} s."
                        f"{tail}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(home: Path, port: int, log: Path, extra_env: dict[str, str] | None = None,
                 ) -> subprocess.Popen[bytes]:
    """Start ``prefect server start`` detached, with its database under ``home``.

    It runs under a small guard (this module's ``__main__``) in its own process group: the
    guard stops the server when ``home`` is deleted (a workspace removed while its server
    ran) and passes SIGTERM on; ``os.killpg(proc.pid, SIGTERM)`` stops both.
    """
    home.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(SERVER_ENV, PREFECT_HOME=str(home), **(extra_env or {}))
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "cumulus.flows._prefect", str(home), str(port)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, env=env, cwd=str(home))


#: the workspace's Prefect server stops after this many seconds with nothing using it (no
#: pipeline agent, no ``schedule serve``, no flow run pending or running); the next use
#: starts it again
IDLE_EXIT = float(os.environ.get("CUMULUS_PREFECT_IDLE_EXIT", "1800"))
IDLE_CHECK = 5.0
SERVE_HEARTBEAT = "serve.json"      # `schedule serve` beats here while it runs


def in_use(home: Path, port: int) -> str | None:
    """What keeps the workspace's Prefect server needed (a word for the log), or None."""
    from cumulus.flows._agent import agent_alive

    try:
        agent = json.loads((home.parent / "pipelines" / "agent.json").read_text())
    except (OSError, ValueError):
        agent = {}
    if agent and agent_alive(agent):
        return "the pipeline agent"
    try:
        serve = json.loads((home / SERVE_HEARTBEAT).read_text())
    except (OSError, ValueError):
        serve = {}
    if serve and pid_alive(serve.get("pid"), serve.get("pid_started")) and \
            time.time() - float(serve.get("heartbeat") or 0) < 60:
        return "schedule serve"
    import httpx

    body = {"flow_runs": {"state": {"type": {"any_": ["PENDING", "RUNNING", "CANCELLING"]}}}}
    try:
        count = httpx.post(f"http://127.0.0.1:{port}/api/flow_runs/count", json=body,
                           timeout=10).json()
    except (httpx.HTTPError, ValueError):
        return "starting"            # not answering yet (or busy): not idle
    return "a flow run" if isinstance(count, int) and count > 0 else None


def _guard(home: Path, port: int) -> int:
    """Run the Prefect server until SIGTERM, until ``home`` disappears, or until nothing has
    used it for ``IDLE_EXIT`` seconds."""
    import signal

    proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host",
                             "127.0.0.1", "--port", str(port)], cwd=str(home))
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    idle_since = checked = time.monotonic()
    while proc.poll() is None and not stop and home.is_dir():
        time.sleep(1)
        now = time.monotonic()
        if now - checked < IDLE_CHECK:
            continue
        checked = now
        if in_use(home, port):
            idle_since = now
        elif now - idle_since > IDLE_EXIT:
            print(f"cumulus: nothing used this Prefect server for {IDLE_EXIT:g} s "
                  "(CUMULUS_PREFECT_IDLE_EXIT); stopping it (the next use starts it again)",
                  flush=True)
            (home / "server.json").unlink(missing_ok=True)
            break
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


class LocalServer:
    """The workspace's own Prefect server (one per workspace, shared by all its processes)."""

    def __init__(self, ws: Workspace) -> None:
        self.dir = ws.state_dir / "prefect"
        self.state_file = self.dir / "server.json"
        self.log = ws.state_dir / "logs" / "prefect-server.log"
        self._lock_path = ws.state_dir / "locks" / "prefect-server.lock"

    def state(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.state_file.read_text()))
        except (OSError, ValueError):
            return {}

    def url_if_alive(self) -> str | None:
        st = self.state()
        if st.get("url") and pid_alive(st.get("pid"), st.get("pid_started")) and \
                healthy(st["url"]):
            return str(st["url"])
        return None

    @contextmanager
    def _locked(self) -> Iterator[None]:
        from cumulus._procs import file_lock

        with file_lock(self._lock_path):
            yield

    def ensure(self, wait: bool = False) -> str:
        """The server's API URL, starting the server if it is not running."""
        with self._locked():
            st = self.state()
            if st.get("url") and pid_alive(st.get("pid"), st.get("pid_started")):
                url = str(st["url"])
            else:
                port = free_port()
                proc = start_server(self.dir, port, self.log,
                                    {"PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "10"})
                url = f"http://127.0.0.1:{port}/api"
                self.state_file.write_text(json.dumps({
                    **ProcessRef.of(proc.pid).to_dict(), "url": url, "started": time.time()}))
        if wait:
            wait_healthy(url, log=self.log)
        return url

    def stop(self) -> bool:
        st = self.state()
        pid = st.get("pid")
        if pid is None or not stop_group(int(pid), 10.0, st.get("pid_started")):
            return False
        self.state_file.unlink(missing_ok=True)
        return True


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
            import prefect.exceptions  # noqa: F401
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

    def ensure_flow(self, name: str) -> str:
        return str(self._call("create flow", self.client.create_flow_from_name, name))

    def upsert_deployment(self, flow_id: str, name: str, *, schedules: list[dict[str, Any]],
                          parameters: dict[str, Any], paused: bool, tags: list[str],
                          description: str = "") -> str:
        from uuid import UUID

        from prefect.client.schemas.actions import DeploymentScheduleCreate

        made = [DeploymentScheduleCreate.model_validate(s) for s in schedules]
        return str(self._call(
            "create deployment", self.client.create_deployment, UUID(flow_id), name,
            schedules=made, parameters=parameters, paused=paused, tags=tags,
            description=description, entrypoint="cumulus.flows._engine:pipeline_flow",
            enforce_parameter_schema=False))

    def set_paused(self, deployment_id: str, paused: bool) -> None:
        fn = self.client.pause_deployment if paused else self.client.resume_deployment
        self._call("pause deployment", fn, deployment_id)

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

    def due_flow_runs(self, deployment_ids: list[str], before: str) -> list[dict[str, Any]]:
        if not deployment_ids:
            return []
        from uuid import UUID

        from prefect.client.schemas.filters import (
            FlowRunFilter,
            FlowRunFilterDeploymentId,
            FlowRunFilterNextScheduledStartTime,
            FlowRunFilterState,
            FlowRunFilterStateType,
        )
        from prefect.client.schemas.objects import StateType
        from prefect.client.schemas.sorting import FlowRunSort

        flt = FlowRunFilter(
            deployment_id=FlowRunFilterDeploymentId(any_=[UUID(d) for d in deployment_ids]),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
            next_scheduled_start_time=FlowRunFilterNextScheduledStartTime.model_validate(
                {"before_": before}))
        return self._flow_runs(flt, FlowRunSort.EXPECTED_START_TIME_ASC)

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


if __name__ == "__main__":
    sys.exit(_guard(Path(sys.argv[1]), int(sys.argv[2])))
