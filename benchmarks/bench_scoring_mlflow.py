"""Scoring throughput: a Cumulus LocalWebservice against ``mlflow models serve``.

MLflow is not a Cumulus dependency: it is installed with uv into its own virtual environment
under benchmarks/_work/ (git-ignored) on first use. Both serve the same scikit-learn model
(logistic regression on the bundled digits data, trained and saved in that environment), one
uvicorn worker each, on 127.0.0.1; the load generator is the one of bench_scoring.py.

    .venv/bin/python benchmarks/bench_scoring_mlflow.py [--requests 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_scoring as bs

VENV = bs.HERE / "_work" / "mlflow-venv"
MLFLOW_PY = VENV / "bin" / "python"

TRAIN = '''
import json, pickle, sys
import mlflow.sklearn
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
x, y = load_digits(return_X_y=True)
model = LogisticRegression(max_iter=2000).fit(x, y)
mlflow.sklearn.save_model(model, sys.argv[1] + "/mlflow-model")
open(sys.argv[1] + "/model.pkl", "wb").write(pickle.dumps(model))
print(json.dumps(x[:2].tolist()))
'''


def ensure_mlflow() -> None:
    if MLFLOW_PY.exists():
        return
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    subprocess.run([uv, "venv", "-q", "--python", "3.11", str(VENV)], check=True)
    subprocess.run([uv, "pip", "install", "-q", "--python", str(MLFLOW_PY), "mlflow",
                    "scikit-learn"], check=True, timeout=900)


def start_mlflow(model_dir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = bs.free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"file://{model_dir}/mlruns",
           "PATH": f"{VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}  # uvicorn
    proc = subprocess.Popen(
        [str(VENV / "bin" / "mlflow"), "models", "serve", "-m", str(model_dir / "mlflow-model"),
         "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    import urllib.request

    while time.monotonic() < deadline:  # wait until it scores, not only listens
        try:
            req = urllib.request.Request(f"http://127.0.0.1:{port}/ping")
            if urllib.request.urlopen(req, timeout=2).status == 200:
                return proc, port
        except OSError:
            time.sleep(0.3)
    proc.terminate()
    raise RuntimeError("mlflow models serve did not come up in 120 s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    ensure_mlflow()
    version = subprocess.run([str(MLFLOW_PY), "-c", "import mlflow; print(mlflow.__version__)"],
                             capture_output=True, text=True, check=True).stdout.strip()
    work = Path(tempfile.mkdtemp(prefix="bench-mlflow-"))
    rows = json.loads(subprocess.run([str(MLFLOW_PY), "-c", TRAIN, str(work)], check=True,
                                     capture_output=True, text=True).stdout)
    proc, port = start_mlflow(work)
    svc = None
    try:
        svc = bs.deploy_cumulus(work, work / "model.pkl")
        targets = [
            ("cumulus LocalWebservice (auth on)", svc.port,
             json.dumps({"data": rows}).encode(), "/score",
             {"Authorization": f"Bearer {svc.get_keys()[0]}"}, svc._record["state"]["pid"]),
            (f"mlflow {version} models serve (1 worker)", port,
             json.dumps({"inputs": rows}).encode(), "/invocations", None, proc.pid)]
        results: dict[str, list[bs.Result]] = {t[0]: [] for t in targets}
        for _ in range(args.rounds):
            for name, p, body, path, headers, pid in targets:
                results[name].append(bs.load(name, p, body, total=args.requests,
                                             concurrency=args.concurrency, headers=headers,
                                             path=path, pid=pid))
        bs.report(results, args)
    finally:
        proc.terminate()
        proc.wait(20)
        if svc is not None:
            svc.delete()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
