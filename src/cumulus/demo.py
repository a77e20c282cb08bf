"""``cumulus demo``: the whole loop on embedded defaults, nothing to configure.

1. Upload scikit-learn's bundled digits data set to the workspace's default datastore.
2. A pipeline (a Prefect flow) whose step prepares a train/test split on the datastore.
3. A hyperparameter sweep with early termination (Bandit policy) on an autoscaling local
   compute target (0..2 nodes, idle nodes released after 10 s).
4. The best configuration trained again for longer; its model registered.
5. The model deployed as a local web service and scored over HTTP with the service key.
6. A summary, and every service the demo started stopped again.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from cumulus.flows import Input, Output, pipeline, step

ASSETS = Path(__file__).with_name("demo_assets")
TARGET = "demo-cluster"


@step(compute_target=TARGET)
def prepare(raw: Input, split: Output, *, test_fraction: float = 0.25) -> int:
    """Split the digits CSV (64 pixel columns, then the label) into digits.npz."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    from cumulus import Run

    src = Path(str(raw))
    table = np.loadtxt(src / "digits.csv" if src.is_dir() else src, delimiter=",")
    x, y = (table[:, :-1] / 16.0).astype("float32"), table[:, -1].astype(int)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, random_state=0,
                                              stratify=y)
    np.savez_compressed(Path(str(split)) / "digits.npz", X_train=x_tr, X_test=x_te, y_train=y_tr,
                        y_test=y_te)
    Run.get_context().log("train_rows", len(y_tr))
    return len(y_tr)


@pipeline(name="digits-prepare")
def prepare_pipeline(test_fraction: float = 0.25) -> dict[str, Any]:
    from cumulus.datastores import DataPath

    return {"split": prepare(raw=DataPath("workspacestore", "digits/raw"),
                             test_fraction=test_fraction)}


def _upload_digits(ws: Any, console: Any) -> None:
    import numpy as np
    from sklearn.datasets import load_digits

    digits = load_digits()
    folder = Path(tempfile.mkdtemp(prefix="cumulus-digits-"))
    np.savetxt(folder / "digits.csv", np.column_stack([digits.data, digits.target]),
               delimiter=",", fmt="%g")
    ds = ws.get_default_datastore()
    ds.upload(src_dir=str(folder), target_path="digits/raw", overwrite=True,
              show_progress=True)
    shutil.rmtree(folder, ignore_errors=True)
    console.print(f"Uploaded {len(digits.target)} digits to {ds.name}:digits/raw")


def run_demo(path: str = "cumulus-demo", *, smoke: bool = False) -> dict[str, Any]:
    """Run the loop in a workspace at ``path``; returns the summary it prints."""
    from rich.console import Console

    from cumulus import (
        ClusterConfig,
        ComputeTarget,
        Experiment,
        InferenceConfig,
        LocalWebservice,
        Model,
        NodeSpec,
        ScriptRunConfig,
        Workspace,
    )

    console = Console(highlight=False)
    started = time.monotonic()
    root = Path(path).resolve()
    ws = Workspace.create("cumulus-demo", path=root, exist_ok=True)
    src = root / "src"
    src.mkdir(exist_ok=True)
    for name in ("train_digits.py", "score.py"):
        shutil.copy(ASSETS / name, src / name)
    console.rule("[bold]Cumulus demo")
    console.print(f"Workspace {ws.root} (store {ws.get_details()['store']})")

    console.rule("1. Data and compute")
    _upload_digits(ws, console)
    target = ComputeTarget.create(ws, TARGET, ClusterConfig(
        backend="local", min_nodes=0, max_nodes=2, idle_seconds_before_scaledown=10,
        node=NodeSpec(cpus=1)), exist_ok=True)
    target.wait_for_completion(show_output=True)
    service = None
    try:
        console.rule("2. Pipeline: prepare the data (a Prefect flow)")
        exp = Experiment(ws, "digits")
        prun = exp.submit(prepare_pipeline)
        prun.wait_for_completion(show_output=True)
        split = prun.get_outputs()["split"]

        console.rule("3. Sweep with early termination on the autoscaling cluster")
        best = _sweep(exp, src, split, smoke, console)

        console.rule("4. Train the best configuration and register the model")
        final = exp.submit(ScriptRunConfig(
            source_directory=src, script="train_digits.py", compute_target=TARGET,
            arguments=["--data", split.as_download(), *best["args"], "--epochs",
                       6 if smoke else 20]))
        final.wait_for_completion(show_output=True)
        accuracy = final.get_metrics()["final_accuracy"]
        model = final.register_model("digits", "outputs/model.pkl",
                                     tags={"sweep": best["sweep_id"]})
        console.print(f"Registered model {model.name} version {model.version}")

        console.rule("5. Deploy and score over HTTP")
        service = Model.deploy(ws, "digits-svc", [model],
                               InferenceConfig(entry_script="score.py", source_directory=src),
                               LocalWebservice.deploy_configuration(port=None,
                                                                    auth_enabled=True),
                               overwrite=True)
        service.wait_for_deployment(show_output=True)
        scored = _score(service)
        status = target.get_status()
        summary = {
            "best_hyperparameters": best["params"], "sweep_run": best["sweep_id"],
            "trials": best["trials"], "early_terminated": best["terminated"],
            "accuracy": round(float(accuracy), 4), "model": f"{model.name}:{model.version}",
            "scoring_uri": service.scoring_uri, "scored": scored,
            "max_nodes_used": best["nodes"], "nodes_now": status["current_node_count"],
            "store": ws.get_details()["store"], "seconds": round(time.monotonic() - started, 1),
        }
    finally:
        _stop_everything(ws, service, target, console)
    _print_summary(console, root, summary)
    return summary


def _sweep(exp: Any, src: Path, split: Any, smoke: bool, console: Any) -> dict[str, Any]:
    from cumulus import ComputeTarget, ScriptRunConfig
    from cumulus.sweeps import BanditPolicy, RandomSampling, Sweep, loguniform

    sweep = Sweep(
        run_config=ScriptRunConfig(source_directory=src, script="train_digits.py",
                                   compute_target=TARGET,
                                   arguments=["--data", split.as_download(), "--epochs", 8,
                                              "--epoch-seconds", 0.4]),
        sampling=RandomSampling({"--lr": loguniform(-9, -1), "--alpha": loguniform(-11, -3)},
                                seed=7),
        primary_metric_name="accuracy", primary_metric_goal="maximize",
        policy=BanditPolicy(slack_factor=0.05, evaluation_interval=1, delay_evaluation=2),
        max_total_runs=6 if smoke else 12, max_concurrent_runs=2)
    srun = exp.submit(sweep)
    nodes = 0
    target = ComputeTarget(exp.workspace, TARGET)
    while srun.get_status() not in ("Completed", "Failed", "Canceled"):
        nodes = max(nodes, target.get_status()["current_node_count"])
        time.sleep(0.5)
    srun.wait_for_completion(show_output=False)
    trials = srun.get_children()
    terminated = sum(1 for t in trials if t.get_status() == "Canceled")
    best = srun.get_best_run_by_primary_metric()
    params = dict(best.get_details()["params"])
    for t in srun.get_children_sorted_by_primary_metric():
        best_acc = t["best_primary_metric"]
        shown = f"{best_acc:.4f}" if isinstance(best_acc, float) else "-"
        console.print(f"  {t['run_id']}  {t['status']:9}  best accuracy {shown}  "
                      f"{t['hyperparameters']}")
    console.print(f"Best: {params}; {terminated} of {len(trials)} trials stopped early; "
                  f"up to {nodes} node(s) used")
    args = [str(x) for k, v in params.items() for x in (k if k.startswith("-") else f"--{k}", v)]
    return {"params": params, "args": args, "sweep_id": srun.id, "trials": len(trials),
            "terminated": terminated, "nodes": nodes}


def _stop_everything(ws: Any, service: Any, target: Any, console: Any) -> None:
    """Stop what the demo started: the service, the cluster, the pipeline agent and server."""
    from cumulus.flows import stop_services

    stopped = []
    if service is not None:
        service.delete()
        stopped.append("scoring service digits-svc")
    target.delete(force=True)
    stopped.append(f"compute target {TARGET}")
    services = stop_services(ws)
    stopped += [name.replace("_", " ") for name, was in services.items() if was]
    console.print(f"Stopped: {', '.join(stopped)}")


def _score(service: Any) -> dict[str, Any]:
    import httpx
    import numpy as np
    from sklearn.datasets import load_digits

    digits = load_digits()
    x, y = (digits.data[:8] / 16.0).tolist(), digits.target[:8].tolist()
    key = service.get_keys()[0]
    resp = httpx.post(service.scoring_uri, content=json.dumps({"data": x}),
                      headers={"Authorization": f"Bearer {key}",
                               "Content-Type": "application/json"}, timeout=30)
    resp.raise_for_status()
    predicted = resp.json()["predictions"]
    return {"labels": y, "predicted": predicted,
            "correct": int(np.sum(np.array(predicted) == np.array(y)))}


def _print_summary(console: Any, root: Path, s: dict[str, Any]) -> None:
    console.rule("[bold]Summary")
    console.print(f"Best hyperparameters: {s['best_hyperparameters']} (sweep {s['sweep_run']}, "
                  f"{s['trials']} trials, {s['early_terminated']} stopped early)")
    console.print(f"Test accuracy of the final model: {s['accuracy']}  ({s['model']})")
    console.print(f"Scored over HTTP at {s['scoring_uri']}: {s['scored']['correct']}/"
                  f"{len(s['scored']['labels'])} correct {s['scored']['predicted']}")
    console.print(f"Nodes: up to {s['max_nodes_used']} used; the cluster and the service are "
                  f"stopped now. Took {s['seconds']} s.")
    console.print(f"Run history: {s['store']}")
    console.print(f"Look at it:  cd {root} && cumulus runs list && cumulus sweep show "
                  f"{s['sweep_run']} && cumulus model list")
