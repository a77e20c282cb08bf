"""Backends whose cluster is owned by a Cumulus manager process: ``local``, ``ssh``,
``kubernetes``, ``azure``.

The manager (``_manager.py``) outlives the process that started it; its scheduler address, pid,
host and heartbeat are in the store, so every client process finds it, and a dead manager is
restarted on next use. The backends differ only in ``make_cluster``, which runs inside the
manager.

Example::

    backend = LocalBackend(ws, "cpu-cluster", ClusterConfig(max_nodes=4))
    backend.start()                 # returns at once
    address = backend.ensure_running()
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cumulus._install import PACKAGE_ROOT
from cumulus._procs import ProcessRef, file_lock, pid_alive, stop_group
from cumulus.compute._base import ComputeBackend
from cumulus.compute._client import drop_client, get_client, remember_target, target_client
from cumulus.compute._status import ClusterStatus, zero_counts
from cumulus.errors import ComputeError

START_TIMEOUT = 90.0
STALE_AFTER = 15.0
STOP_TIMEOUT = 30.0




class ManagedBackend(ComputeBackend):
    """Client side of a manager-owned cluster: spawn, find, observe and stop the manager."""

    # the manager ---------------------------------------------------------------------------
    @classmethod
    def make_cluster(cls, cfg: Any) -> Any:  # pragma: no cover - per backend
        """Build the Dask cluster object; runs inside the manager process."""
        raise NotImplementedError

    @property
    def state(self) -> dict[str, Any]:
        record = self.ws.store.computes.get(self.name) or {}
        return dict(record.get("state") or {})

    def _local_host(self, state: dict[str, Any]) -> bool:
        return state.get("host") in (None, socket.gethostname())

    def alive(self, state: dict[str, Any] | None = None) -> bool:
        state = self.state if state is None else state
        if not state.get("address") or state.get("status") != "Running":
            return False
        if self._local_host(state) and not pid_alive(state.get("pid"),
                                                     state.get("pid_started")):
            return False
        return time.time() - float(state.get("heartbeat") or 0) < STALE_AFTER

    def _starting(self, state: dict[str, Any]) -> bool:
        return state.get("status") == "Starting" and self._local_host(state) and \
            pid_alive(state.get("pid"), state.get("pid_started"))

    @contextmanager
    def _lock(self) -> Iterator[None]:
        with file_lock(self.ws.state_dir / "locks" / f"compute-{self.name}.lock"):
            yield

    def start(self) -> None:
        with self._lock():
            state = self.state
            if not self.alive(state) and not self._starting(state):
                self._spawn()

    def _spawn(self) -> None:
        log = self.ws.state_dir / "logs" / f"compute-{self.name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        self.ws.store.computes.merge_state(
            self.name, status="Starting", address=None, pid=None, host=socket.gethostname(),
            log=str(log), spawned_at=time.time(), stop_requested=False, error=None)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [PACKAGE_ROOT,
                                                          env.get("PYTHONPATH")]))
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "cumulus.compute._manager", self.name, "-"],
                stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, env=env, cwd=str(self.ws.root))
        assert proc.stdin is not None  # the payload holds the store URL: never put it in argv
        proc.stdin.write(json.dumps(self.ws.payload()).encode())
        proc.stdin.close()
        threading.Thread(target=proc.wait, daemon=True).start()   # reap it when it ends
        self.ws.store.computes.merge_state(self.name, **ProcessRef.of(proc.pid).to_dict())

    def ensure_running(self) -> str:
        state = self.state
        if self.alive(state):
            return str(state["address"])
        with self._lock():
            state = self.state
            if not self.alive(state):
                if state.get("address"):
                    drop_client(state["address"])
                if not self._starting(state):
                    self._spawn()
        return self._wait_address()

    def _wait_address(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            state = self.state
            if state.get("status") == "Running" and state.get("address"):
                return str(state["address"])
            if state.get("status") == "Failed" or (
                    self._local_host(state) and state.get("pid")
                    and not pid_alive(state.get("pid"), state.get("pid_started"))):
                raise ComputeError(
                    f"Compute target {self.name!r} failed to start: "
                    f"{state.get('error') or 'its manager exited'}. Manager log "
                    f"{state.get('log')}:\n{tail(state.get('log'))}")
            time.sleep(0.05)
        raise ComputeError(f"Compute target {self.name!r} did not start within "
                           f"{START_TIMEOUT:.0f} s. See {self.state.get('log')}.")

    def client(self) -> Any:
        from cumulus.compute._tls import security_from_state

        live = target_client(self.ws.store_url, self.name)
        if live is not None:        # connected: the scheduler is up, no need to ask the store
            return live
        address = self.ensure_running()
        remember_target(self.ws.store_url, self.name, address)
        security = security_from_state(self.state) if address.startswith("tls://") else None
        try:
            return get_client(address, security=security)
        except (OSError, TimeoutError):
            drop_client(address)
            address = self.ensure_running()
            return get_client(address, security=security_from_state(self.state)
                              if address.startswith("tls://") else None)

    # status --------------------------------------------------------------------------------
    def status(self) -> ClusterStatus:
        state = self.state
        alive = self.alive(state)
        cfg = self.config
        base: dict[str, Any] = {
            "name": self.name, "backend": cfg.backend,
            "scale_settings": cfg.scale_settings(), "log": state.get("log"),
            "manager": {"pid": state.get("pid"), "host": state.get("host"), "alive": alive,
                        "heartbeat_age_s": _age(state.get("heartbeat"))},
        }
        if alive:
            counts = {**zero_counts(), **(state.get("node_state_counts") or {})}
            return ClusterStatus(
                provisioning_state="Succeeded", address=state.get("address"),
                current_node_count=int(state.get("current_node_count") or 0),
                target_node_count=int(state.get("target_node_count") or 0),
                allocation_state=str(state.get("allocation_state") or "Steady"),
                node_state_counts=counts, queued_runs=int(state.get("queued_runs") or 0),
                running_runs=int(state.get("running_runs") or 0),
                errors=[f"node {n}: {why}" for n, why in
                        sorted((state.get("setup_failed") or {}).items())], **base)
        return ClusterStatus(provisioning_state=self._down_state(state),
                             errors=self._down_errors(state), **base)

    def _down_state(self, state: dict[str, Any]) -> str:
        if self._starting(state):
            return "Creating"
        if state.get("status") in ("Running", "Failed"):
            return "Failed"
        return "Stopped"

    def _down_errors(self, state: dict[str, Any]) -> list[str]:
        if state.get("status") == "Failed":
            return [f"The manager could not start: {state.get('error')}. See "
                    f"{state.get('log')}; the next use tries again."]
        if state.get("status") == "Running":
            return [f"The manager process (pid {state.get('pid')} on {state.get('host')}) is "
                    f"not running; last heartbeat {_age(state.get('heartbeat'))} s ago. The "
                    "next submit or wait_for_completion restarts it and requeues its runs."]
        return []

    # stopping ------------------------------------------------------------------------------
    def stop(self) -> None:
        state = self.state
        if state.get("address"):
            drop_client(state["address"])
        self.ws.store.computes.merge_state(self.name, stop_requested=True)
        pid = int(state.get("pid") or 0)
        if self._local_host(state) and pid_alive(pid, state.get("pid_started")):
            stop_group(pid, STOP_TIMEOUT, state.get("pid_started"))
        elif state.get("status") == "Running":
            deadline = time.monotonic() + STOP_TIMEOUT
            while self.state.get("status") == "Running" and time.monotonic() < deadline:
                time.sleep(0.2)
        self.ws.store.computes.merge_state(self.name, status="Stopped", address=None, pid=None)


class LocalBackend(ManagedBackend):
    """Worker processes on this machine: a Dask ``LocalCluster`` owned by the manager."""

    @classmethod
    def make_cluster(cls, cfg: Any) -> Any:
        from distributed import LocalCluster

        return LocalCluster(
            n_workers=cfg.min_nodes, threads_per_worker=cfg.node.cpus, processes=True,
            memory_limit=cfg.node.memory_bytes or 0, resources=cfg.node.worker_resources(),
            scheduler_port=0,  # the dashboard shows task keys, logs and tracebacks: loopback only
            dashboard_address=cfg.options.get("dashboard_address", "127.0.0.1:0"),
            silence_logs=logging.ERROR, host="127.0.0.1")


class SSHBackend(ManagedBackend):
    """Dask's ``SSHCluster`` over the hosts in ``options['hosts']`` (extra ``ssh``)."""

    @classmethod
    def preflight(cls, config: Any) -> None:
        from cumulus.compute._extras import check_ssh_hosts

        check_ssh_hosts(config)

    @classmethod
    def make_cluster(cls, cfg: Any) -> Any:
        from cumulus.compute._extras import make_ssh_cluster

        return make_ssh_cluster(cfg)


class KubernetesBackend(ManagedBackend):
    """dask-kubernetes' ``KubeCluster`` (extra ``kubernetes``)."""

    @classmethod
    def make_cluster(cls, cfg: Any) -> Any:
        from cumulus.compute._extras import make_kubernetes_cluster

        return make_kubernetes_cluster(cfg)


class AzureBackend(ManagedBackend):
    """dask-cloudprovider's ``AzureVMCluster`` (extra ``cloud``)."""

    @classmethod
    def make_cluster(cls, cfg: Any) -> Any:
        from cumulus.compute._extras import make_azure_cluster

        return make_azure_cluster(cfg)


def _age(ts: Any) -> float | None:
    return None if not ts else round(time.time() - float(ts), 1)


def tail(path: str | None, lines: int = 15) -> str:
    if not path:
        return ""
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
