"""What every service kind implements, and the HTTP probes they share.

A backend runs one service's scoring server somewhere (a local process, a container). The
orchestration in ``_service`` decides *what* to serve (models, code, keys, revision); a backend
only makes it so and reports what it sees.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cumulus.errors import DeploymentError

if TYPE_CHECKING:
    from cumulus.models._bundle import SourceRef
    from cumulus.models._config import DeploymentConfig
    from cumulus.workspace import Workspace

HEALTHY, TRANSITIONING, FAILED = "Healthy", "Transitioning", "Failed"


@dataclass
class Target:
    """Everything a backend needs to serve one revision of a service."""

    revision: int
    models: list[dict[str, Any]]
    source: SourceRef
    config: DeploymentConfig
    auth: dict[str, Any]          # {"enabled": bool, "key_hashes": [...]}; hashes only


def client_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "", "localhost", "::") else host


def get_health(base_url: str, timeout: float = 2.0) -> tuple[int, dict[str, Any]] | None:
    """(HTTP status, body) of GET /health, or None when nothing answers."""
    import httpx

    try:
        resp = httpx.get(f"{base_url}/health", timeout=timeout)
    except httpx.HTTPError:
        return None
    try:
        body = resp.json() if resp.content else {}
    except ValueError:
        body = {}
    return resp.status_code, body if isinstance(body, dict) else {}


def wait_for_revision(base_url: str, revision: int, alive: Callable[[], bool],
                      logs: Callable[[], str], timeout: float) -> None:
    """Block until the server reports loading ``revision``; raise if that failed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        health = get_health(base_url)
        if health is not None:
            last = health[1].get("last_reload") or {}
            if last.get("revision") == revision:
                if last.get("ok"):
                    return
                raise DeploymentError(f"The service kept its previous version: loading the new "
                                      f"one failed: {last.get('error')}")
        if not alive():
            raise DeploymentError("The scoring server stopped while loading the new version. "
                                  f"Last log lines:\n{tail(logs(), 20)}")
        time.sleep(0.05)
    raise DeploymentError(f"The scoring server did not load revision {revision} within "
                          f"{timeout:g} s. Last log lines:\n{tail(logs(), 20)}")


def last_error(log: str) -> str:
    """The message of the server's last ERROR line (what made it stop), if any."""
    for line in reversed(log.splitlines()):
        _, sep, message = line.partition(" ERROR cumulus.scoring: ")
        if sep:
            return message
    return "it exited (see the log below)"


def tail(text: str, lines: int) -> str:
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


class Backend(ABC):
    """One service's server, wherever it runs."""

    kind = ""

    def __init__(self, ws: Workspace, name: str, state: dict[str, Any]) -> None:
        self.ws, self.name, self.state = ws, name, dict(state)

    @property
    def service_dir(self) -> Path:
        return self.ws.state_dir / "services" / self.name

    @property
    def base_url(self) -> str:
        return f"http://{client_host(self.state['host'])}:{self.state['port']}"

    @abstractmethod
    def reserve(self, config: DeploymentConfig) -> None:
        """Claim the port (refusing one in use) before anything is recorded or started."""

    @abstractmethod
    def start(self, target: Target) -> None:
        """Start serving ``target`` (first deployment, or a restart)."""

    @abstractmethod
    def apply(self, target: Target, *, code_changed: bool) -> None:
        """Serve ``target`` instead of the current revision; on failure keep the current one
        (or report it) and raise DeploymentError."""

    @abstractmethod
    def alive(self) -> bool:
        """Whether the server process/container still runs."""

    @abstractmethod
    def logs(self, num_lines: int = 5000) -> str:
        """The server's log (stdout and stderr)."""

    @abstractmethod
    def stop(self) -> None:
        """Stop the server and remove what it ran in; idempotent."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Close connections this object holds (the server keeps running)."""

    def release(self) -> None:  # noqa: B027 - optional hook, nothing to undo by default
        """Undo :meth:`reserve` when deployment stops before :meth:`start`."""

    def probe(self) -> tuple[str, str | None]:
        """(Healthy | Transitioning | Failed, error) as seen now."""
        if not self.alive():
            return FAILED, "the scoring server stopped: " + last_error(self.logs(200))
        health = get_health(self.base_url)
        if health is not None and health[0] == 200:
            return HEALTHY, None
        if health is not None and health[1].get("status") == FAILED:
            return FAILED, str(health[1].get("error"))
        return TRANSITIONING, None
