"""Live lag of Cumulus studio: time from ``run.log()`` in a running script to the point drawn
on the run page in a real headless Chromium (no reload). The script logs its own wall clock as
the metric value every 0.3 s; the page records when each new point is drawn (a 10 ms watch on
the chart's point count); lag = drawn time - logged time, same machine, same clock.
Goal (issue #15): under 1 s. MLflow's UI has no live refresh to compare against (its users
reload the page), so the figure stands alone.

    .venv/bin/python benchmarks/bench_ui_live.py [--points 40]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
SCRIPT = """
import time
from cumulus import Run
run = Run.get_context()
time.sleep(3)                      # time for the page to open and subscribe
for i in range({points}):
    run.log("clock", time.time())
    time.sleep(0.3)
"""
WATCH = """() => {
  window.drawn = [];
  let last = 0;
  setInterval(() => {
    const c = document.querySelector('.chart[data-metric=clock]');
    const n = c ? Number(c.dataset.points) : 0;
    if (n > last) { window.drawn.push([Date.now() / 1000, n]); last = n; }
  }, 10);
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(root: Path) -> tuple[subprocess.Popen[str], str]:
    import httpx

    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "cumulus", "ui", "--port", str(port)],
                            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    token = re.search(r"token=(\S+)", line)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(base + "/api/v1/openapi.json", timeout=2)
            break
        except httpx.HTTPError:
            time.sleep(0.2)
    return proc, f"{base}/?token={token.group(1) if token else ''}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=40)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from cumulus import Experiment, ScriptRunConfig, Workspace
    from cumulus.services import stop_services

    print(f"load average at start: {os.getloadavg()[0]:.2f}; {args.points} points, one every "
          "0.3 s")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ws = Workspace.create("bench-live", path=root / "ws")
        src = root / "src"
        src.mkdir()
        (src / "clock.py").write_text(SCRIPT.format(points=args.points))
        proc, url = _serve(ws.root)
        try:
            run = Experiment(ws, "live").submit(ScriptRunConfig(source_directory=str(src),
                                                                script="clock.py"))
            while run.get_status() not in ("Running", "Completed", "Failed"):
                time.sleep(0.05)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
                page = browser.new_page()
                page.goto(url + f"#/runs/{run.id}")
                page.wait_for_selector("#log")
                page.evaluate(WATCH)
                run.wait_for_completion(timeout=300)
                time.sleep(1.5)
                drawn = page.evaluate("window.drawn")
                browser.close()
            logged = list(run.get_metrics()["clock"])
            lags = []
            for at, count in drawn:   # points logged before this draw and not drawn before
                done = len(lags)
                lags += [at - t for t in logged[done:count]]
            lags = [x for x in lags if x >= 0]
            q = statistics.quantiles(lags, n=10)
            print(f"points drawn live: {len(lags)} of {len(logged)}")
            print(f"lag log -> drawn: median {statistics.median(lags):.3f} s, p90 {q[-1]:.3f} s, "
                  f"max {max(lags):.3f} s  (goal: under 1 s)")
        finally:
            proc.terminate()
            proc.wait(10)
            stop_services(ws)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
