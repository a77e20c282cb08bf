"""Automated ML quality at a fixed time budget, side by side on scikit-learn's bundled datasets:

- Cumulus AutoML (trials as script runs on the local Dask target, 2 at once),
- a tuned HistGradientBoosting baseline (Optuna TPE in-process, same folds, same budget),
- FLAML (``pip install flaml``, in-process, 5-fold CV, same budget) when it is installed.

Each prints the best 5-fold cross-validated score (the ensemble's score, on all out-of-fold
predictions, separately), the trials run and trials per minute. Goal (issue #16): at least the
baseline on every dataset and within 1% of FLAML.

    .venv/bin/python benchmarks/bench_automl.py [--budget 60] [--datasets breast_cancer,wine]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

DATASETS = {  # name -> (loader, task, metric: Cumulus name, FLAML name)
    "breast_cancer": ("load_breast_cancer", "classification", "accuracy", "accuracy"),
    "wine": ("load_wine", "classification", "accuracy", "accuracy"),
    "digits": ("load_digits", "classification", "accuracy", "accuracy"),
    "diabetes": ("load_diabetes", "regression", "r2_score", "r2"),
}


def frame(name: str):  # type: ignore[no-untyped-def]
    import sklearn.datasets as d

    data = getattr(d, DATASETS[name][0])(as_frame=True).frame
    return data.rename(columns={c: str(c) for c in data.columns})


def cumulus_automl(ws, name: str, budget: float) -> dict[str, object]:  # type: ignore[no-untyped-def]
    from cumulus import Experiment
    from cumulus.automl import AutoMLConfig

    _, task, metric, _ = DATASETS[name]
    started = time.perf_counter()
    run = Experiment(ws, f"bench-{name}").submit(AutoMLConfig(
        task=task, training_data=frame(name), label_column_name="target",
        primary_metric=metric, n_cross_validations=5, experiment_timeout_minutes=budget / 60,
        max_concurrent_trials=2))
    run.wait_for_completion(raise_on_error=False, timeout=budget * 3 + 120)
    wall = time.perf_counter() - started
    board = run.get_leaderboard()
    trials = [r for r in board if r["model"] != "VotingEnsemble"]
    done = [r for r in trials if r["score"] is not None]
    ensemble = next((r["score"] for r in board if r["model"] == "VotingEnsemble"), None)
    return {"best": done[0]["score"], "model": done[0]["model"], "ensemble": ensemble,
            "trials": len(trials), "wall": wall, "per_min": len(trials) / wall * 60}


def hgb_baseline(name: str, budget: float) -> dict[str, object]:
    import optuna
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

    _, task, metric, _ = DATASETS[name]
    data = frame(name)
    X, y = data.drop(columns=["target"]), data["target"]
    cls = HistGradientBoostingClassifier if task == "classification" else \
        HistGradientBoostingRegressor
    cv = (StratifiedKFold if task == "classification" else KFold)(5, shuffle=True,
                                                                  random_state=0)
    scoring = "accuracy" if metric == "accuracy" else "r2"

    def objective(trial):  # type: ignore[no-untyped-def]
        model = cls(learning_rate=trial.suggest_float("lr", 0.01, 0.5, log=True),
                    max_iter=trial.suggest_categorical("max_iter", [50, 100, 200, 400]),
                    max_leaf_nodes=trial.suggest_categorical("leaves", [7, 15, 31, 63]),
                    min_samples_leaf=trial.suggest_categorical("min_leaf", [5, 10, 20, 40]),
                    l2_regularization=trial.suggest_float("l2", 1e-4, 10, log=True),
                    random_state=0)
        return cross_val_score(model, X, y, cv=cv, scoring=scoring, n_jobs=2).mean()

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=0))
    started = time.perf_counter()
    study.optimize(objective, timeout=budget)
    wall = time.perf_counter() - started
    return {"best": study.best_value, "model": "HistGradientBoosting", "trials":
            len(study.trials), "wall": wall, "per_min": len(study.trials) / wall * 60}


def flaml_automl(name: str, budget: float) -> dict[str, object] | None:
    try:
        from flaml import AutoML
    except ImportError:
        return None
    _, task, _, metric = DATASETS[name]
    data = frame(name)
    X, y = data.drop(columns=["target"]), data["target"]
    automl = AutoML()
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        automl.fit(X, y, task=task, metric=metric, time_budget=budget, eval_method="cv",
                   n_splits=5, n_jobs=2, verbose=0, seed=0)
    wall = time.perf_counter() - started
    trials = len(automl.config_history)
    return {"best": 1 - automl.best_loss, "model": automl.best_estimator, "trials": trials,
            "wall": wall, "per_min": trials / wall * 60}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per search")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    args = parser.parse_args()
    from cumulus import Workspace

    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    print(f"load average at start: {os.getloadavg()[0]:.2f}; budget {args.budget:g} s per "
          f"search; {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.create("bench-automl", path=Path(tmp) / "ws",
                              local_compute={"min_nodes": 1, "max_nodes": 2,
                                             "idle_seconds_before_scaledown": 60})
        rows = []
        try:
            for name in args.datasets.split(","):
                ours = cumulus_automl(ws, name, args.budget)
                base = hgb_baseline(name, args.budget)
                flaml = flaml_automl(name, args.budget)
                rows.append((name, ours, base, flaml))
                _print(name, ours, base, flaml)
        finally:
            from cumulus.services import stop_services

            stop_services(ws)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


def _print(name: str, ours: dict, base: dict, flaml: dict | None) -> None:  # type: ignore[type-arg]
    metric = DATASETS[name][2]
    ens = "-" if ours["ensemble"] is None else f"{ours['ensemble']:.4f}"
    line = (f"{name:14s} {metric:9s} cumulus {ours['best']:.4f} ({ours['model']}, "
            f"ensemble {ens}, {ours['trials']} trials, {ours['per_min']:.0f}/min) | "
            f"HGB tuned {base['best']:.4f} ({base['trials']} trials) "
            f"ratio {ours['best'] / base['best']:.4f}")
    if flaml:
        line += (f" | FLAML {flaml['best']:.4f} ({flaml['model']}, {flaml['trials']} trials) "
                 f"ratio {ours['best'] / flaml['best']:.4f}")
    print(line, flush=True)


if __name__ == "__main__":
    main()
