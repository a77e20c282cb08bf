"""Local services: one uvicorn scoring process per service on this machine.

The deployer binds the listening socket itself (so a port in use fails at once, before
anything starts) and hands it to the server process, which outlives the deployer. Updates
rewrite the spec and send SIGHUP: the server swaps the new handler in without closing the
socket or any connection, so no request fails during the swap.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cumulus.errors import DeploymentError
from cumulus.models._backend import Backend, Target, tail, wait_for_revision
from cumulus.models._bundle import build_bundle, spec_document, write_json
from cumulus.models._config import DeploymentConfig

# Popen objects of servers this process started, to reap them (no zombies) when they end
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
KEEP_BUNDLES = 2


def _bind(host: str, port: int | None) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port or 0))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def port_in_use_error(host: str, port: int, owner: str | None, exc: OSError) -> DeploymentError:
    who = f"service {owner!r} of this workspace" if owner else "another process"
    return DeploymentError(
        f"Port {port} on {host} is in use by {who} ({exc.strerror}). Choose another port, or "
        "port=None for a free one" + (f", or delete service {owner!r}." if owner else "."))


class LocalBackend(Backend):
    """A scoring process started with the service's interpreter."""

    kind = "local"

    def __init__(self, ws: Any, name: str, state: dict[str, Any]) -> None:
        super().__init__(ws, name, state)
        self._sock: socket.socket | None = None

    # paths ------------------------------------------------------------------------------------
    @property
    def spec_path(self) -> Path:
        return self.service_dir / "spec.json"

    @property
    def log_path(self) -> Path:
        return self.service_dir / "service.log"

    # lifecycle --------------------------------------------------------------------------------
    def reserve(self, config: DeploymentConfig) -> None:
        try:
            self._sock = _bind(config.host, config.port)
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                raise port_in_use_error(config.host, config.port or 0,
                                        self._port_owner(config.port), exc) from None
            raise DeploymentError(f"Cannot listen on {config.host}:{config.port}: "
                                  f"{exc.strerror}. Check the host address.") from None
        self.state.update(host=config.host, port=self._sock.getsockname()[1])

    def release(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def start(self, target: Target) -> None:
        if self._sock is None:
            self.reserve(target.config)
        assert self._sock is not None
        self.service_dir.mkdir(parents=True, exist_ok=True)
        self._write_spec(target, self._bundle(target))
        python, env = self._interpreter(target)
        try:
            fd = self._sock.fileno()
            with open(self.log_path, "ab") as log:
                proc = subprocess.Popen(
                    [python, "-m", "cumulus.models.server", "--spec", str(self.spec_path),
                     "--fd", str(fd)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    pass_fds=(fd,), start_new_session=True, cwd=self.service_dir, env=env)
        finally:
            self.release()
        _CHILDREN[proc.pid] = proc
        self.state.update(pid=proc.pid, create_time=_create_time(proc.pid), python=python,
                          revision=target.revision)

    def apply(self, target: Target, *, code_changed: bool) -> None:
        python, _env = self._interpreter(target)
        if python != self.state.get("python"):
            self._restart(target)
            return
        previous = self.spec_path.read_text() if self.spec_path.exists() else None
        previous_bundle = self.state["bundle"]
        bundle = self._bundle(target) if code_changed else previous_bundle
        self._write_spec(target, bundle)
        try:
            os.kill(self.state["pid"], signal.SIGHUP)
            wait_for_revision(self.base_url, target.revision, self.alive, self.logs,
                              timeout=max(300.0, target.config.scoring_timeout_seconds or 0))
        except (DeploymentError, ProcessLookupError) as exc:
            # the server still serves the old spec: keep the file and the state saying so
            self.state["bundle"] = previous_bundle
            if previous is not None:
                self.spec_path.write_text(previous)
            if isinstance(exc, ProcessLookupError):
                raise DeploymentError("The scoring server is not running; redeploy with "
                                      "overwrite=True.") from None
            raise
        self.state.update(revision=target.revision)
        self._prune_bundles()

    def _restart(self, target: Target) -> None:
        """A new interpreter needs a new process: stop, then start on the same port."""
        port = self.state["port"]
        self.stop_process()
        deadline = time.monotonic() + 10
        while True:
            try:
                self._sock = _bind(self.state["host"], port)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.start(target)
        wait_for_revision(self.base_url, target.revision, self.alive, self.logs, timeout=120)

    def stop(self) -> None:
        self.stop_process()
        shutil.rmtree(self.service_dir, ignore_errors=True)

    def stop_process(self, timeout: float = 15.0) -> None:
        pid = self.state.get("pid")
        if not pid or not self.alive():
            _reap(pid)
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.alive():
            os.killpg(pid, signal.SIGKILL)
        _reap(pid, wait=True)

    # observation ------------------------------------------------------------------------------
    def alive(self) -> bool:
        pid = self.state.get("pid")
        if not pid:
            return False
        child = _CHILDREN.get(pid)
        if child is not None and child.poll() is not None:
            return False
        import psutil

        try:
            proc = psutil.Process(pid)
            same = abs(proc.create_time() - float(self.state.get("create_time") or 0)) < 1.0
            return same and proc.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def logs(self, num_lines: int = 5000) -> str:
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - 256 * num_lines))
                text = fh.read().decode(errors="replace")
        except FileNotFoundError:
            return ""
        return tail(text, num_lines) + "\n" if text else ""

    # helpers ----------------------------------------------------------------------------------
    def _bundle(self, target: Target) -> dict[str, str]:
        root = self.service_dir / f"r{target.revision}"
        src, model_dir = build_bundle(self.ws, root, target.models, target.source,
                                      copy_models=False)
        return {"root": str(root), "src": str(src), "model_dir": str(model_dir)}

    def _write_spec(self, target: Target, bundle: dict[str, str]) -> None:
        doc = spec_document(self.name, target.revision, target.source, bundle["src"],
                            bundle["model_dir"], target.config.limits(), target.auth)
        write_json(self.spec_path, doc)
        self.state["bundle"] = bundle

    def _interpreter(self, target: Target) -> tuple[str, dict[str, str]]:
        from cumulus.tasks.environments import prepare_environment

        python, env_vars = prepare_environment(self.ws, target.source.environment,
                                               lambda _msg: None)
        package_root = str(Path(__file__).resolve().parents[2])  # the folder holding cumulus/
        path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
        env = {**os.environ, **env_vars, **target.source.env_vars, "PYTHONPATH": path,
               "PYTHONUNBUFFERED": "1"}
        return python or sys.executable, env

    def _prune_bundles(self) -> None:
        keep = {f"r{r}" for r in range(self.state["revision"] - KEEP_BUNDLES + 1,
                                        self.state["revision"] + 1)}
        keep.add(Path(self.state["bundle"]["root"]).name)
        for path in self.service_dir.glob("r*"):
            if path.is_dir() and path.name not in keep:
                shutil.rmtree(path, ignore_errors=True)

    def _port_owner(self, port: int | None) -> str | None:
        rows = self.ws.store.services.states()
        return next((n for n, st in rows if st.get("port") == port), None)


def _create_time(pid: int) -> float:
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return 0.0


def _reap(pid: int | None, wait: bool = False) -> None:
    child = _CHILDREN.pop(pid, None) if pid else None
    if child is not None:
        try:
            child.wait(5 if wait else 0)
        except subprocess.TimeoutExpired:
            pass
