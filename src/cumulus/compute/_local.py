"""Backend ``local``: one long-lived manager process per target owns a Dask LocalCluster.

The manager outlives the process that started it; its scheduler address, pid and heartbeat
are in the store, so every client process finds it. A dead manager is restarted on next use.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cumulus.compute._base import ComputeBackend
from cumulus.compute._client import drop_client, get_client
from cumulus.errors import ComputeError

START_TIMEOUT = 60.0
STALE_AFTER = 15.0


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, PermissionError, ValueError):
        return False
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return True


class LocalBackend(ComputeBackend):
    """Worker processes on this machine, managed by a detached manager process."""

    @property
    def _record(self) -> dict[str, Any]:
        return self.ws.store.get_compute(self.name) or {}

    @property
    def state(self) -> dict[str, Any]:
        return dict(self._record.get("state") or {})

    def _alive(self, state: dict[str, Any]) -> bool:
        return bool(state.get("address")) and pid_alive(state.get("pid")) and \
            state.get("status") == "Running" and \
            time.time() - float(state.get("heartbeat") or 0) < STALE_AFTER

    @contextmanager
    def _lock(self):  # type: ignore[no-untyped-def]
        path = self.ws.state_dir / "locks" / f"compute-{self.name}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def start(self) -> None:
        with self._lock():
            if not self._alive(self.state):
                self._spawn()

    def _spawn(self) -> None:
        log = self.ws.state_dir / "logs" / f"compute-{self.name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        self.ws.store.merge_compute_state(self.name, status="Starting", address=None, pid=None,
                                          log=str(log), started_request=time.time())
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env["PYTHONPATH"] = os.pathsep.join(
            [str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep)
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "cumulus.compute._manager", str(self.ws.root),
                 self.name, self.ws.store_url],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, env=env, cwd=str(self.ws.root))
        self.ws.store.merge_compute_state(self.name, pid=proc.pid)

    def ensure_running(self) -> str:
        state = self.state
        if self._alive(state):
            return str(state["address"])
        with self._lock():
            state = self.state
            if not self._alive(state):
                if state.get("address"):
                    drop_client(state["address"])
                if not (state.get("status") == "Starting" and pid_alive(state.get("pid"))):
                    self._spawn()
            return self._wait_address()

    def _wait_address(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            state = self.state
            if state.get("status") == "Running" and state.get("address"):
                return str(state["address"])
            if state.get("status") == "Failed" or (
                    state.get("pid") and not pid_alive(state.get("pid"))):
                raise ComputeError(
                    f"Compute target {self.name!r} failed to start: "
                    f"{state.get('error') or 'manager exited'}. Manager log "
                    f"{state.get('log')}:\n{_tail(state.get('log'))}")
            time.sleep(0.05)
        raise ComputeError(f"Compute target {self.name!r} did not start within "
                           f"{START_TIMEOUT:.0f} s. See {self.state.get('log')}.")

    def client(self) -> Any:
        address = self.ensure_running()
        try:
            return get_client(address)
        except OSError:
            drop_client(address)
            self.ws.store.merge_compute_state(self.name, status="Unreachable")
            return get_client(self.ensure_running())

    def submit(self, run_id: str, ws_payload: dict[str, Any], resources: dict[str, float],
               definition: dict[str, Any]) -> None:
        from distributed import fire_and_forget

        from cumulus.tasks.executor import execute_run

        client = self.client()
        future = client.submit(execute_run, run_id, ws_payload, self.config.max_attempts,
                               key=f"cumulus-run-{run_id}", pure=False, resources=resources,
                               retries=0)
        fire_and_forget(future)

    def status(self) -> dict[str, Any]:
        state = self.state
        alive = self._alive(state)
        cfg = self.config
        nodes = state.get("nodes") or {}
        return {
            "name": self.name,
            "backend": cfg.backend,
            "provisioning_state": "Succeeded" if alive else (
                "Creating" if state.get("status") == "Starting" and pid_alive(state.get("pid"))
                else ("Stopped" if not state.get("error") else "Failed")),
            "manager_alive": alive,
            "manager_pid": state.get("pid"),
            "address": state.get("address") if alive else None,
            "current_node_count": int(state.get("current_node_count") or 0) if alive else 0,
            "target_node_count": int(state.get("target_node_count") or 0) if alive else 0,
            "allocation_state": state.get("allocation_state", "Steady") if alive else "Steady",
            "node_state_counts": nodes if alive else {
                "idle": 0, "running": 0, "preparing": 0, "leaving": 0, "unusable": 0},
            "queued_runs": int(state.get("queued_runs") or 0) if alive else 0,
            "scale_settings": {"min_nodes": cfg.min_nodes, "max_nodes": cfg.max_nodes,
                               "idle_seconds_before_scaledown":
                                   cfg.idle_seconds_before_scaledown},
            "errors": state.get("error"),
            "log": state.get("log"),
        }

    def stop(self) -> None:
        state = self.state
        pid = state.get("pid")
        if state.get("address"):
            drop_client(state["address"])
        if pid_alive(pid):
            import signal

            os.kill(int(pid), signal.SIGTERM)
            deadline = time.monotonic() + 20
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if pid_alive(pid):
                os.kill(int(pid), signal.SIGKILL)
        self.ws.store.merge_compute_state(self.name, status="Stopped", address=None, pid=None)


def _tail(path: str | None, lines: int = 15) -> str:
    if not path:
        return ""
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
