"""TensorBoard over runs: the TensorBoard event files runs write under ``./logs`` (with
``torch.utils.tensorboard.SummaryWriter("logs/...")``, TensorFlow, or any writer) shown in
one TensorBoard, refreshed while the runs are still running. Names follow Azure ML's
``azureml.tensorboard.Tensorboard``.

Example::

    tb = Tensorboard([run1, run2])        # or cumulus tensorboard RUN_ID RUN_ID
    url = tb.start()                      # http://127.0.0.1:6006/
    ...
    tb.stop()

Needs the ``tensorboard`` package (``pip install 'cumulus-ml[tensorboard]'``).
"""

from __future__ import annotations

import atexit
import importlib.util
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cumulus.errors import CumulusError, MissingDependencyError, ValidationError

SYNC_EVERY = 3.0        # seconds between looks for new event files of runs still running
START_TIMEOUT = 60.0
EVENTS = "tfevents"


class Tensorboard:
    """One TensorBoard process over the event files of ``runs`` (Run objects)."""

    def __init__(self, runs: Iterable[Any], local_root: str | None = None,
                 port: int = 6006, host: str = "127.0.0.1") -> None:
        self.runs = list(runs)
        if not self.runs:
            raise ValidationError("Tensorboard needs at least one run, e.g. Tensorboard([run]).")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < 65536:
            raise ValidationError(f"port must be an int from 0 to 65535, got {port!r}.")
        self.port, self.host = port, host
        self._own_root = local_root is None
        self.root = Path(local_root or tempfile.mkdtemp(prefix="cumulus-tensorboard-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self._seen: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # files -------------------------------------------------------------------------------
    def sync(self) -> int:
        """Download event files that are new or grew since the last look; returns how many."""
        fetched = 0
        for run in self.runs:
            for art in run._store.list_artifacts(run.id, prefix="logs/"):
                if EVENTS not in art["path"]:
                    continue
                key = f"{run.id}/{art['path']}"
                if self._seen.get(key) == int(art.get("size") or 0):
                    continue
                run.download_file(art["path"], self.root / run.id / art["path"])
                self._seen[key] = int(art.get("size") or 0)
                fetched += 1
        return fetched

    def _follow(self) -> None:
        while not self._stop.wait(SYNC_EVERY):
            try:
                self.sync()
            except Exception:   # a run deleted, the store briefly away: try again later
                pass

    # process -----------------------------------------------------------------------------
    def start(self, start_browser: bool = False) -> str:
        """Download the runs' event files, start TensorBoard, and return its URL."""
        if importlib.util.find_spec("tensorboard") is None:
            raise MissingDependencyError("cumulus tensorboard", "tensorboard", "tensorboard")
        if self.proc is not None:
            return self.url
        found = self.sync()
        if not found:
            ids = ", ".join(r.id for r in self.runs)
            raise CumulusError(f"run(s) {ids} have no TensorBoard event files under ./logs "
                               f"yet; write them with SummaryWriter('logs/<name>') in the "
                               f"script.")
        if self.port == 0:
            self.port = _free_port(self.host)
        spec = ",".join(f"{r.id}:{self.root / r.id}" for r in self.runs)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tensorboard.main", "--logdir_spec", spec, "--host",
             self.host, "--port", str(self.port), "--reload_interval", "2"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True)
        atexit.register(self.stop)
        self._wait_ready()
        self._thread = threading.Thread(target=self._follow, daemon=True,
                                        name="cumulus-tensorboard-sync")
        self._thread.start()
        if start_browser:
            import webbrowser

            webbrowser.open(self.url)
        return self.url

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def _wait_ready(self) -> None:
        import httpx

        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                err = (self.proc.stderr.read() if self.proc.stderr else b"").decode(
                    errors="replace").strip().splitlines()
                self.stop()
                raise CumulusError(f"TensorBoard exited at start: "
                                   f"{err[-1] if err else 'no output'} (port {self.port} in "
                                   f"use? choose another with port=...)")
            try:
                if httpx.get(self.url + "data/runs", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise CumulusError(f"TensorBoard did not answer on {self.url} within "
                                   f"{START_TIMEOUT:.0f} s.")
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop TensorBoard and the syncing; remove the downloaded files if they were ours."""
        self._stop.set()
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if proc is not None and proc.stderr is not None:
            proc.stderr.close()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Tensorboard:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


__all__ = ["Tensorboard"]
