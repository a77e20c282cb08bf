"""Scoring latency and throughput: a Cumulus LocalWebservice against a bare FastAPI app.

Both serve the same scikit-learn model (logistic regression on the bundled digits data) with
uvicorn (one process, same settings) on 127.0.0.1; the Cumulus service runs with key auth on,
as deployed by ``Model.deploy``. A bounded asyncio load generator (raw HTTP/1.1 keep-alive
connections, a fixed number of requests) measures p50 / p99 latency and requests/s.

    .venv/bin/python benchmarks/bench_scoring.py [--requests 3000] [--concurrency 8] [--rounds 6]

Goal: the Cumulus service reaches at least 0.8x the bare app's requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable

SCORE_PY = '''
import json, os, pickle
import numpy as np

def init():
    global model
    with open(os.path.join(os.environ["CUMULUS_MODEL_DIR"], "model.pkl"), "rb") as fh:
        model = pickle.load(fh)

def run(raw_data):
    data = np.asarray(json.loads(raw_data)["data"])
    return {"predictions": model.predict(data).tolist()}
'''

BARE_ASYNC = '''
import os, pickle, numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
with open(os.environ["MODEL_PATH"], "rb") as fh:
    model = pickle.load(fh)
app = FastAPI()

@app.post("/score")
async def score(request: Request):
    data = await request.json()
    return JSONResponse({"predictions": model.predict(np.asarray(data["data"])).tolist()})
'''

BARE_SYNC = '''
import os, pickle, numpy as np
from typing import Any
from fastapi import Body, FastAPI
with open(os.environ["MODEL_PATH"], "rb") as fh:
    model = pickle.load(fh)
app = FastAPI()

@app.post("/score")
def score(payload: dict[str, Any] = Body(...)):
    return {"predictions": model.predict(np.asarray(payload["data"])).tolist()}
'''


# load generator ----------------------------------------------------------------------------
@dataclass
class Result:
    name: str
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    cpu_seconds: float = 0.0        # the server process's user+sys CPU over the round

    @property
    def cpu_us(self) -> float:
        """Server CPU per request: insensitive to other jobs competing for the cores."""
        return self.cpu_seconds / self.requests * 1e6

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def pct(self, q: float) -> float:
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, int(q * len(data)))]

    def row(self) -> str:
        return (f"| {self.name} | {self.rps:,.0f} | {self.pct(0.5):.2f} | {self.pct(0.99):.2f} "
                f"| {self.cpu_us:,.0f} | {self.errors} |")


def build_request(host: str, port: int, path: str, body: bytes,
                  headers: dict[str, str] | None = None) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}",
             "Content-Type: application/json", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _worker(host: str, port: int, request: bytes, quota: list[int],
                  latencies: list[float], errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while quota[0] > 0:
            quota[0] -= 1
            t0 = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append((time.perf_counter() - t0) * 1000)
            if status != 200:
                errors[0] += 1
    finally:
        writer.close()


async def _load(host: str, port: int, request: bytes, total: int, concurrency: int,
                ) -> tuple[float, list[float], int]:
    quota, latencies, errors = [total], [], [0]
    t0 = time.perf_counter()
    await asyncio.gather(*(_worker(host, port, request, quota, latencies, errors)
                           for _ in range(concurrency)))
    return time.perf_counter() - t0, latencies, errors[0]


def _cpu(pid: int | None) -> float:
    if pid is None:
        return 0.0
    import psutil

    procs = [psutil.Process(pid)]
    procs += procs[0].children(recursive=True)   # e.g. the uvicorn worker of mlflow
    return sum(p.cpu_times().user + p.cpu_times().system for p in procs)


def load(name: str, port: int, body: bytes, *, total: int, concurrency: int,
         headers: dict[str, str] | None = None, warmup: int = 300,
         path: str = "/score", pid: int | None = None) -> Result:
    """Send ``total`` requests over ``concurrency`` keep-alive connections (after a warm-up)."""
    request = build_request("127.0.0.1", port, path, body, headers)
    asyncio.run(_load("127.0.0.1", port, request, warmup, concurrency))
    cpu0 = _cpu(pid)
    seconds, latencies, errors = asyncio.run(
        _load("127.0.0.1", port, request, total, concurrency))
    return Result(name, total, errors, seconds, latencies, _cpu(pid) - cpu0)


# servers -----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port} after {timeout} s")


def start_bare(app_src: str, model_path: Path, work: Path, name: str) -> tuple[Any, int]:
    (work / f"{name}.py").write_text(app_src)
    port = free_port()
    proc = subprocess.Popen(
        [PY, "-m", "uvicorn", f"{name}:app", "--host", "127.0.0.1", "--port", str(port),
         "--no-access-log", "--log-level", "warning"],
        cwd=work, env={**os.environ, "MODEL_PATH": str(model_path)})
    wait_http(port)
    return proc, port


def train_model(path: Path) -> list[list[float]]:
    import pickle

    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    x, y = load_digits(return_X_y=True)
    model = LogisticRegression(max_iter=2000).fit(x, y)
    path.write_bytes(pickle.dumps(model))
    return x[:2].tolist()


def deploy_cumulus(work: Path, model_path: Path, name: str = "bench-svc",
                   **config: Any) -> Any:
    from cumulus import InferenceConfig, LocalWebservice, Model, Workspace

    ws = Workspace.create("bench", path=work / "ws", exist_ok=True)
    model = Model.register(ws, model_path=str(model_path), model_name="digits")
    src = work / "src"
    src.mkdir(exist_ok=True)
    (src / "score.py").write_text(textwrap.dedent(SCORE_PY))
    svc = Model.deploy(ws, name, [model],
                       InferenceConfig(entry_script="score.py", source_directory=str(src)),
                       LocalWebservice.deploy_configuration(port=None, auth_enabled=True,
                                                            **config),
                       overwrite=True)
    svc.wait_for_deployment()
    return svc


def ratio_line(svc: Result, bare: Result) -> str:
    return f"{svc.rps / bare.rps:.2f}x"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=6)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-scoring-"))
    model_path = work / "model.pkl"
    rows = train_model(model_path)
    body = json.dumps({"data": rows}).encode()
    procs: list[Any] = []
    svc = inline = None
    try:
        svc = deploy_cumulus(work, model_path)
        inline = deploy_cumulus(work, model_path, "bench-inline", scoring_timeout_seconds=None)
        bare_async = start_bare(BARE_ASYNC, model_path, work, "bare_async")
        bare_sync = start_bare(BARE_SYNC, model_path, work, "bare_sync")
        procs = [bare_async[0], bare_sync[0]]
        targets = [("cumulus LocalWebservice (auth on)", svc.port,
                    {"Authorization": f"Bearer {svc.get_keys()[0]}"},
                    svc._record["state"]["pid"]),
                   ("cumulus, scoring_timeout_seconds=None (run() inline)", inline.port,
                    {"Authorization": f"Bearer {inline.get_keys()[0]}"},
                    inline._record["state"]["pid"]),
                   ("bare FastAPI, async def (predict inline)", bare_async[1], None,
                    bare_async[0].pid),
                   ("bare FastAPI, def (threadpool)", bare_sync[1], None, bare_sync[0].pid)]
        results: dict[str, list[Result]] = {t[0]: [] for t in targets}
        for _ in range(args.rounds):  # interleave rounds so drift hits everyone alike
            for name, port, headers, pid in targets:
                results[name].append(load(name, port, body, total=args.requests,
                                          concurrency=args.concurrency, headers=headers,
                                          pid=pid))
        report(results, args)
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
        for service in (svc, inline):
            if service is not None:
                service.delete()
        shutil.rmtree(work, ignore_errors=True)


def report(results: dict[str, list[Result]], args: argparse.Namespace) -> None:
    best = {name: max(rs, key=lambda r: r.rps) for name, rs in results.items()}
    print(f"\n{args.requests} requests x {args.rounds} rounds, {args.concurrency} connections, "
          f"body = 2 digits rows (best round shown; median req/s in brackets)\n")
    print("| server | req/s | p50 ms | p99 ms | server CPU us/req | errors |\n"
          "|---|---:|---:|---:|---:|---:|")
    for name, r in best.items():
        print(r.row() + f"  [{statistics.median(x.rps for x in results[name]):,.0f}]")
    cpu = {n: statistics.median(x.cpu_us for x in rs) for n, rs in results.items()}
    ours = [n for n in results if n.startswith("cumulus")]
    for mine in ours:
        for other in (n for n in results if n not in ours):
            # rounds are interleaved: a ratio within one round shares that round's load
            pairs = zip(results[mine], results[other], strict=True)
            per_round = sorted(a.rps / b.rps for a, b in pairs)
            capacity = (f"CPU/request {cpu[other] / cpu[mine]:.2f}x" if cpu[mine] > 0 else "")
            print(f"{mine} / {other}: req/s per round median {statistics.median(per_round):.2f}x "
                  f"(min {per_round[0]:.2f}x, max {per_round[-1]:.2f}x), best rounds "
                  f"{ratio_line(best[mine], best[other])}; {capacity}")


if __name__ == "__main__":
    main()
