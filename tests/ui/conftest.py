"""A workspace with runs of every kind, served by a real `cumulus ui` process."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, root: Path, host: str = "127.0.0.1", token: str | None = None) -> None:
        self.port = free_port()
        env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
        if token:
            env["CUMULUS_UI_TOKEN"] = token
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cumulus", "ui", "--host", host, "--port", str(self.port)],
            cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        match = re.search(r"token=(\S+)", line)
        assert match, line
        self.token = match.group(1)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(self.base + "/api/v1/openapi.json", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="session")
def ui_ws(workspace, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The session workspace with a few completed script runs and a small sweep."""
    from cumulus import Experiment, ScriptRunConfig
    from cumulus.sweeps import GridSampling, Sweep, choice

    src = tmp_path_factory.mktemp("ui-src")
    (src / "train.py").write_text(
        "import argparse, os\nfrom cumulus import Run\n"
        "p = argparse.ArgumentParser(); p.add_argument('--lr', type=float, default=0.1)\n"
        "a = p.parse_args(); run = Run.get_context()\n"
        "for i in range(5):\n    run.log('loss', 1.0 / (i + 1) + a.lr)\n"
        "run.log('accuracy', 1 - a.lr)\n"
        "os.makedirs('outputs', exist_ok=True)\n"
        "open('outputs/model.txt', 'w').write('m')\nprint('trained with', a.lr)\n")
    exp = Experiment(workspace, "ui-demo")
    runs = [exp.submit(ScriptRunConfig(source_directory=str(src), script="train.py",
                                       arguments=["--lr", lr]), tags={"team": "vision"})
            for lr in (0.1, 0.3)]
    for r in runs:
        r.wait_for_completion()
    sweep = exp.submit(Sweep(ScriptRunConfig(source_directory=str(src), script="train.py"),
                             GridSampling({"--lr": choice(0.05, 0.2, 0.4)}), "accuracy",
                             "maximize", max_concurrent_runs=2))
    sweep.wait_for_completion(timeout=240)
    return {"ws": workspace, "runs": runs, "sweep": sweep, "src": src}


@pytest.fixture(scope="session")
def server(ui_ws) -> Iterator[Server]:  # type: ignore[no-untyped-def]
    srv = Server(ui_ws["ws"].root)
    yield srv
    srv.stop()
