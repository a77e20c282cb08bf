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


def _guard(home: Path, port: int) -> int:
    """Run the Prefect server until SIGTERM, or until ``home`` disappears."""
    import signal

    proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host",
                             "127.0.0.1", "--port", str(port)], cwd=str(home))
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    while proc.poll() is None and not stop and home.is_dir():
        time.sleep(1)
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


class PrefectAPI:
    """The few Prefect REST endpoints schedules and triggers need."""

    def __init__(self, url: str, timeout: float = 20.0) -> None:
        import httpx

        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, timeout=timeout)

    def _call(self, method: str, path: str, attempts: int = 5, **kwargs: Any) -> Any:
        """One REST call; busy answers (429, 5xx) and dropped connections are retried."""
        import httpx

        for attempt in range(attempts):
            try:
                resp = self.http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if attempt + 1 < attempts:
                    time.sleep(0.5 * 2 ** attempt)
                    continue
                raise ConfigError(f"Cannot reach the Prefect API at {self.url}: {exc}. Start "
                                  "it with `cumulus schedule serve` (or `prefect server "
                                  "start`), or fix prefect_api_url in cumulus.yaml.") from None
            if resp.status_code in (429, 502, 503, 504) and attempt + 1 < attempts:
                time.sleep(0.5 * 2 ** attempt)
                continue
            break
        if resp.status_code >= 400:
            raise PipelineError(f"Prefect API {method} {path} answered {resp.status_code}: "
                                f"{resp.text[:500]}")
        return resp.json() if resp.content else None

    def ui_url(self, flow_run_id: str) -> str:
        base = self.url[:-4] if self.url.endswith("/api") else self.url
        return f"{base}/runs/flow-run/{flow_run_id}"

    def ensure_flow(self, name: str) -> str:
        return str(self._call("POST", "/flows/", json={"name": name})["id"])

    def upsert_deployment(self, flow_id: str, name: str, *, schedules: list[dict[str, Any]],
                          parameters: dict[str, Any], paused: bool, tags: list[str],
                          description: str = "") -> str:
        body = {"name": name, "flow_id": flow_id, "schedules": schedules, "paused": paused,
                "parameters": parameters, "tags": tags, "description": description,
                "entrypoint": "cumulus.flows._engine:pipeline_flow",
                "enforce_parameter_schema": False}
        return str(self._call("POST", "/deployments/", json=body)["id"])

    def set_paused(self, deployment_id: str, paused: bool) -> None:
        self._call("PATCH", f"/deployments/{deployment_id}", json={"paused": paused})

    def delete_deployment(self, deployment_id: str) -> None:
        try:
            self._call("DELETE", f"/deployments/{deployment_id}")
        except PipelineError as exc:
            if "404" not in str(exc):
                raise

    def deployments(self, tag: str) -> list[dict[str, Any]]:
        return list(self._call("POST", "/deployments/filter",
                               json={"deployments": {"tags": {"all_": [tag]}}}))

    def due_flow_runs(self, deployment_ids: list[str], before: str) -> list[dict[str, Any]]:
        if not deployment_ids:
            return []
        body = {"flow_runs": {"deployment_id": {"any_": deployment_ids},
                              "state": {"type": {"any_": ["SCHEDULED"]}},
                              "next_scheduled_start_time": {"before_": before}},
                "sort": "EXPECTED_START_TIME_ASC", "limit": 200}
        return list(self._call("POST", "/flow_runs/filter", json=body))

    def flow_runs(self, deployment_id: str) -> list[dict[str, Any]]:
        body = {"flow_runs": {"deployment_id": {"any_": [deployment_id]}},
                "sort": "EXPECTED_START_TIME_DESC", "limit": 200}
        return list(self._call("POST", "/flow_runs/filter", json=body))

    def set_state(self, flow_run_id: str, type_: str, name: str, message: str = "",
                  force: bool = False) -> str:
        body = {"state": {"type": type_, "name": name, "message": message}, "force": force}
        return str(self._call("POST", f"/flow_runs/{flow_run_id}/set_state", json=body)["status"])

    def create_flow_run(self, deployment_id: str, parameters: dict[str, Any],
                        tags: list[str] | None = None) -> dict[str, Any]:
        body = {"parameters": parameters, "tags": tags or []}
        return dict(self._call("POST", f"/deployments/{deployment_id}/create_flow_run",
                               json=body))


if __name__ == "__main__":
    sys.exit(_guard(Path(sys.argv[1]), int(sys.argv[2])))
