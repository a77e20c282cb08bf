"""One AutoML trial, run as a script run on the compute target.

The sweep gives it ``--model <family>`` and that family's ``--<Model>__<param>`` values; the
snapshot holds ``automl_settings.json`` and the training (and validation) data. It
cross-validates the featurization + model pipeline, logging the primary metric's running mean
after every fold (so early termination compares trials fold by fold), then every metric of the
task, and writes to ``outputs/``: the model refitted on all rows (``model.pkl``) and its
out-of-fold predictions (``oof.npy``), from which the AutoML run builds its ensemble.

Example (what the generated trial script does)::

    from cumulus.automl._trial import main
    main()          # reads sys.argv: --model LightGBM --LightGBM__num_leaves 31 ...
"""

from __future__ import annotations

import json
import pickle
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

SETTINGS = "automl_settings.json"
TRAIN = "training_data.pkl"
VALID = "validation_data.pkl"


def parse_flags(argv: list[str]) -> dict[str, Any]:
    """``--name value`` pairs (values as JSON where they parse: numbers stay numbers)."""
    out: dict[str, Any] = {}
    it = iter(argv)
    for key in it:
        value = next(it, None)
        try:
            out[key] = json.loads(value) if value is not None else None
        except json.JSONDecodeError:
            out[key] = value
    return out


def splits(task: str, y: Any, n_folds: int, seed: int, order: Any = None) -> list[Any]:
    from sklearn.model_selection import KFold, StratifiedKFold, TimeSeriesSplit

    index = np.arange(len(y))
    if task == "forecasting":
        ordered = index if order is None else np.argsort(order, kind="stable")
        return [(ordered[a], ordered[b]) for a, b in
                TimeSeriesSplit(n_splits=n_folds).split(ordered)]
    if task == "classification":
        return list(StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(index, y))
    return list(KFold(n_folds, shuffle=True, random_state=seed).split(index))


def main(argv: list[str] | None = None) -> int:
    import pandas as pd

    from cumulus import Run

    from ._data import ColumnPlan
    from ._ensemble import AutoMLModel
    from ._featurize import feature_columns, make_pipeline
    from ._metrics import METRICS, score_all
    from ._models import build_estimator, params_of

    flags = parse_flags(list(sys.argv[1:] if argv is None else argv))
    settings = json.loads(Path(SETTINGS).read_text())
    task, label, metric = settings["task"], settings["label"], settings["primary_metric"]
    plan = [ColumnPlan.from_dict(d) for d in settings["plan"]]
    columns = feature_columns(plan)
    family = str(flags["--model"])
    params = params_of(family, flags)
    frame = pd.read_pickle(TRAIN)
    X, y_raw = frame[columns], frame[label]
    classes = settings.get("classes")
    y = (pd.Categorical(y_raw.astype(str), categories=[str(c) for c in classes]).codes
         if classes is not None else y_raw.to_numpy(dtype=float))
    run = Run.get_context()
    goal_sign = 1.0 if METRICS[metric].goal == "maximize" else -1.0
    print(f"trial: {family} {params}", flush=True)

    def fit(rows: Any) -> Any:
        pipe = make_pipeline(plan, build_estimator(family, task, params, settings["seed"]), task)
        return pipe.fit(X.iloc[rows], y[rows])

    def predict(pipe: Any, data: Any) -> Any:
        return pipe.predict_proba(data) if classes is not None else pipe.predict(data)

    def metrics_of(truth: Any, out: Any) -> dict[str, float]:
        if classes is None:
            return score_all(task, truth, out)
        codes = list(range(len(classes)))
        return score_all(task, truth, np.argmax(out, axis=1), out, codes)

    width = len(classes) if classes is not None else 1
    oof = np.full((len(y), width), np.nan)
    fold_scores: list[dict[str, float]] = []
    started = time.monotonic()
    if Path(VALID).exists():  # a validation set: one split, the model is the one trained
        valid = pd.read_pickle(VALID)
        yv = (pd.Categorical(valid[label].astype(str), categories=[str(c) for c in classes]
                             ).codes if classes is not None else valid[label].to_numpy(float))
        model = fit(np.arange(len(y)))
        out = predict(model, valid[columns])
        fold_scores.append(metrics_of(yv, out))
        oof = np.asarray(out, dtype=float).reshape(len(yv), width)
        run.log(metric, fold_scores[0][metric])
    else:
        order = frame[settings["time_column"]] if settings.get("time_column") else None
        for k, (train, test) in enumerate(splits(task, y, settings["n_cross_validations"],
                                                 settings["seed"], order)):
            pipe = fit(train)
            out = np.asarray(predict(pipe, X.iloc[test]), dtype=float).reshape(len(test), width)
            oof[test] = out
            fold_scores.append(metrics_of(y[test], out))
            running = float(np.mean([s[metric] for s in fold_scores]))
            run.log(metric, running)
            print(f"fold {k + 1}: {metric}={fold_scores[-1][metric]:.5f} (mean so far "
                  f"{running:.5f}, {time.monotonic() - started:.1f} s)", flush=True)
        model = fit(np.arange(len(y)))
    summary = {name: float(np.nanmean([s[name] for s in fold_scores]))
               for name in fold_scores[0]}
    for name, value in summary.items():
        if name != metric and np.isfinite(value):
            run.log(name, value)
    run.log("fit_time_seconds", time.monotonic() - started)
    out_dir = Path("outputs")
    out_dir.mkdir(exist_ok=True)
    wrapped = AutoMLModel([model], [1.0], task, classes=classes, columns=columns, names=[family])
    with open(out_dir / "model.pkl", "wb") as fh:
        pickle.dump(wrapped, fh)
    np.save(out_dir / "oof.npy", oof)
    (out_dir / "scores.json").write_text(json.dumps(
        {"family": family, "params": params, "folds": fold_scores, "mean": summary,
         "objective": goal_sign * summary[metric]}, indent=1, default=float))
    print(f"done: {metric}={summary[metric]:.5f}", flush=True)
    return 0
