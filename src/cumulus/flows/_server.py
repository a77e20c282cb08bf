"""The installation's own Prefect server, shared by every workspace that uses it.

One ``prefect server start`` per Cumulus installation (its database and state under the
installation's cache folder, ``~/.cache/cumulus/installs/<key>/prefect-server``), started on
first need by whichever workspace needs it first. A second workspace on the machine finds it
running: its first pipeline starts without a server start (about 8-40 s), and a machine with
five workspaces runs one server (about 270 MB), not five. Two installations (two checkouts or
versions) never share one.

Each workspace that uses the server registers in its ``users/`` folder. The server's guard
stops it when nothing has used it for ``CUMULUS_PREFECT_IDLE_EXIT`` seconds (no workspace's
pipeline agent or ``schedule serve`` alive, no flow run in flight), or at once when every
workspace that used it has been deleted. Workspaces keep their deployments apart by tag and by
name (see ``_records.deployment_name``).

Example::

    server = LocalServer(ws)
    url = server.ensure(wait=True)      # http://127.0.0.1:PORT/api, started if needed
    server.users()                      # ['/home/me/proj/.cumulus', ...]
    server.release()                    # this workspace is done; stops it if nobody else
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

from cumulus._hashing import text_digest
from cumulus._procs import ProcessRef, pid_alive, stop_group
from cumulus.errors import PipelineError

if TYPE_CHECKING:
    from cumulus.workspace import Workspace

START_TIMEOUT = 120.0
#: Prefect's event persister writes every event (three or four per task run) with its
#: resources to the database: about 10 ms of the server's CPU per pipeline step, taken from
#: the steps' runs on a small machine. Task runs, flow runs, logs, artifacts, automations and
#: the live event stream do not need it; only Prefect's event history (its Events page) does.
#: ``CUMULUS_PREFECT_EVENT_HISTORY=1`` keeps it.
EVENT_HISTORY = os.environ.get("CUMULUS_PREFECT_EVENT_HISTORY", "").lower() in ("1", "true",
                                                                              "yes")
SERVER_ENV = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false",
              "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
              "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_ENABLED": str(EVENT_HISTORY).lower()}
#: the server stops after this many seconds with nothing using it (no pipeline agent, no
#: ``schedule serve``, no flow run pending or running); the next use starts it again
IDLE_EXIT = float(os.environ.get("CUMULUS_PREFECT_IDLE_EXIT", "1800"))
IDLE_CHECK = 5.0
SERVE_HEARTBEAT = "serve.json"      # `schedule serve` beats in <workspace>/.cumulus/prefect/


def server_home() -> Path:
    """This installation's Prefect server folder (database, state, log, users)."""
    from cumulus._install import install_cache_dir

    return install_cache_dir() / "prefect-server"


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
    guard stops the server when it is idle or every workspace using it is gone, and passes
    SIGTERM on; ``os.killpg(proc.pid, SIGTERM)`` stops both.
    """
    home.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(SERVER_ENV, PREFECT_HOME=str(home), **(extra_env or {}))
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "cumulus.flows._server", str(home), str(port)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, env=env, cwd=str(home))


# users -------------------------------------------------------------------------------------
def _user_file(home: Path, state_dir: Path) -> Path:
    return home / "users" / (text_digest(str(state_dir.resolve()), 16) + ".json")


def register_user(home: Path, state_dir: Path, name: str) -> None:
    path = _user_file(home, state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"state_dir": str(state_dir.resolve()), "name": name}))


def live_users(home: Path) -> list[dict[str, Any]]:
    """The workspaces registered with the server whose folders still exist (the registrations
    of deleted workspaces are removed)."""
    out = []
    for path in sorted((home / "users").glob("*.json")):
        try:
            user = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if Path(user.get("state_dir") or "/nonexistent").is_dir():
            out.append(user)
        else:
            path.unlink(missing_ok=True)
    return out


def _user_activity(user: dict[str, Any]) -> str | None:
    """What of this workspace keeps the server needed, or None."""
    from cumulus.flows._agent import agent_alive

    state_dir = Path(user["state_dir"])
    try:
        agent = json.loads((state_dir / "pipelines" / "agent.json").read_text())
    except (OSError, ValueError):
        agent = {}
    if agent and agent_alive(agent):
        return f"the pipeline agent of workspace {user.get('name')!r}"
    try:
        serve = json.loads((state_dir / "prefect" / SERVE_HEARTBEAT).read_text())
    except (OSError, ValueError):
        serve = {}
    if serve and pid_alive(serve.get("pid"), serve.get("pid_started")) and \
            time.time() - float(serve.get("heartbeat") or 0) < 60:
        return f"schedule serve of workspace {user.get('name')!r}"
    return None


def in_use(home: Path, port: int, users: list[dict[str, Any]] | None = None) -> str | None:
    """What keeps the server needed (a few words for the log), or None."""
    for user in live_users(home) if users is None else users:
        activity = _user_activity(user)
        if activity:
            return activity
    import httpx

    body = {"flow_runs": {"state": {"type": {"any_": ["PENDING", "RUNNING", "CANCELLING"]}}}}
    try:
        count = httpx.post(f"http://127.0.0.1:{port}/api/flow_runs/count", json=body,
                           timeout=10).json()
    except (httpx.HTTPError, ValueError):
        return "starting"            # not answering yet (or busy): not idle
    return "a flow run" if isinstance(count, int) and count > 0 else None


def _guard(home: Path, port: int) -> int:
    """Run the Prefect server until SIGTERM, until ``home`` or every workspace using it is
    deleted, or until nothing has used it for ``IDLE_EXIT`` seconds."""
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
        users = live_users(home)
        if not users:
            print("cumulus: every workspace that used this Prefect server is gone; stopping it",
                  flush=True)
            break
        if in_use(home, port, users):
            idle_since = now
        elif now - idle_since > IDLE_EXIT:
            print(f"cumulus: nothing used this Prefect server for {IDLE_EXIT:g} s "
                  "(CUMULUS_PREFECT_IDLE_EXIT); stopping it (the next use starts it again)",
                  flush=True)
            break
    from cumulus._procs import file_lock

    if home.is_dir():           # (never recreate a deleted cache folder)
        with file_lock(home / "server.lock"):  # an ensure() from now on starts a new one
            (home / "server.json").unlink(missing_ok=True)
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


def stop_server(home: Path | None = None) -> bool:
    """Stop the installation's server (the one under ``home``) now; True if it was running."""
    state_file = (home or server_home()) / "server.json"
    try:
        st = json.loads(state_file.read_text())
    except (OSError, ValueError):
        return False
    pid = st.get("pid")
    if pid is None or not stop_group(int(pid), 10.0, st.get("pid_started")):
        return False
    state_file.unlink(missing_ok=True)
    return True


class LocalServer:
    """The installation's Prefect server, as seen by one workspace (see the module doc)."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.dir = server_home()
        self.state_file = self.dir / "server.json"
        self.log = self.dir / "prefect-server.log"
        self._lock_path = self.dir / "server.lock"

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

    def users(self) -> list[str]:
        """The workspaces (their ``.cumulus`` folders) registered with the server."""
        return [u["state_dir"] for u in live_users(self.dir)]

    def registered(self) -> bool:
        """Whether this workspace has used the server (and not released it)."""
        return _user_file(self.dir, self.ws.state_dir).exists()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        from cumulus._procs import file_lock

        with file_lock(self._lock_path):
            yield

    def ensure(self, wait: bool = False) -> str:
        """The server's API URL, starting the server if it is not running."""
        with self._locked():
            register_user(self.dir, self.ws.state_dir, self.ws.name)
            self._stop_legacy()
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

    def _stop_legacy(self) -> None:
        """Stop a server an earlier version started for this workspace alone."""
        legacy = self.ws.state_dir / "prefect" / "server.json"
        try:
            st = json.loads(legacy.read_text())
        except (OSError, ValueError):
            return
        if st.get("pid"):
            stop_group(int(st["pid"]), 10.0, st.get("pid_started"))
        legacy.unlink(missing_ok=True)

    def stop(self) -> bool:
        """Stop the server now, whoever uses it; True if it was running."""
        return stop_server(self.dir)

    def release(self) -> bool:
        """This workspace is done with the server: unregister it, and stop the server if no
        other workspace uses it now. True if the server was stopped."""
        _user_file(self.dir, self.ws.state_dir).unlink(missing_ok=True)
        others = live_users(self.dir)
        if any(_user_activity(u) for u in others):
            return False
        return self.stop()


if __name__ == "__main__":
    sys.exit(_guard(Path(sys.argv[1]), int(sys.argv[2])))
