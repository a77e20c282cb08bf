"""The candidate models of automated ML, as data: a name (Azure ML's where it has one), the
estimator class per task as a dotted path, its search space and a known-good default point.

Optional libraries (LightGBM, XGBoost) are candidates only where they import; asking for one
that does not names the install command.

Example::

    >>> sorted(MODELS["LightGBM"].classes)
    ['classification', 'regression']
    >>> build_estimator("RandomForest", "classification", {"min_samples_leaf": 2}, seed=0)
    RandomForestClassifier(min_samples_leaf=2, n_estimators=200, n_jobs=1, random_state=0)
"""

from __future__ import annotations

import importlib
import importlib.util
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cumulus.errors import AutoMLError, allowed_list, did_you_mean

from ._metrics import CLASSIFICATION, FORECASTING, REGRESSION

SEP = "__"   # a parameter's flag in the sweep: --<Model>__<param>


def _ln(x: float) -> float:
    return round(math.log(x), 4)


@dataclass(frozen=True)
class ModelSpec:
    """One candidate family.

    ``classes`` maps a task to ``"module.Class"``; ``space`` maps a hyperparameter to a sweep
    expression (``"choice(...)"`` etc.); ``default`` is tried first; ``fixed`` is always
    passed; ``max_rows`` skips the family on larger data (kernel SVMs, k-NN);
    ``requires`` is the import that must work, with ``install`` the command that provides it.
    """

    name: str
    classes: Mapping[str, str]
    space: Mapping[str, str]
    default: Mapping[str, Any]
    fixed: Mapping[str, Any] = field(default_factory=dict)
    seeded: bool = True
    max_rows: int | None = None
    requires: str = "sklearn"
    install: str = ""

    def available(self) -> bool:
        return importlib.util.find_spec(self.requires) is not None


_CW = "choice('none', 'balanced')"
MODELS: dict[str, ModelSpec] = {m.name: m for m in (
    ModelSpec("LogisticRegression",
              {CLASSIFICATION: "sklearn.linear_model.LogisticRegression"},
              {"C": f"loguniform({_ln(1e-3)}, {_ln(1e3)})", "class_weight": _CW},
              {"C": 1.0, "class_weight": "none"}, {"max_iter": 2000}),
    ModelSpec("ElasticNet",
              {REGRESSION: "sklearn.linear_model.ElasticNet"},
              {"alpha": f"loguniform({_ln(1e-5)}, {_ln(10)})", "l1_ratio": "uniform(0, 1)"},
              {"alpha": 0.001, "l1_ratio": 0.5}, {"max_iter": 5000}),
    ModelSpec("RandomForest",
              {CLASSIFICATION: "sklearn.ensemble.RandomForestClassifier",
               REGRESSION: "sklearn.ensemble.RandomForestRegressor"},
              {"max_features": "uniform(0.1, 1.0)", "min_samples_leaf": "choice(1, 2, 4, 8, 16)"},
              {"max_features": 0.5, "min_samples_leaf": 1}, {"n_estimators": 200, "n_jobs": 1}),
    ModelSpec("ExtremeRandomTrees",
              {CLASSIFICATION: "sklearn.ensemble.ExtraTreesClassifier",
               REGRESSION: "sklearn.ensemble.ExtraTreesRegressor"},
              {"max_features": "uniform(0.1, 1.0)", "min_samples_leaf": "choice(1, 2, 4, 8, 16)"},
              {"max_features": 0.5, "min_samples_leaf": 1}, {"n_estimators": 200, "n_jobs": 1}),
    ModelSpec("HistGradientBoosting",
              {CLASSIFICATION: "sklearn.ensemble.HistGradientBoostingClassifier",
               REGRESSION: "sklearn.ensemble.HistGradientBoostingRegressor"},
              {"learning_rate": f"loguniform({_ln(0.01)}, {_ln(0.5)})",
               "max_iter": "choice(50, 100, 200, 400)",
               "max_leaf_nodes": "choice(7, 15, 31, 63)",
               "min_samples_leaf": "choice(5, 10, 20, 40)",
               "l2_regularization": f"loguniform({_ln(1e-4)}, {_ln(10)})"},
              {"learning_rate": 0.1, "max_iter": 100, "max_leaf_nodes": 31,
               "min_samples_leaf": 20, "l2_regularization": 0.001}),
    ModelSpec("GradientBoosting",
              {CLASSIFICATION: "sklearn.ensemble.GradientBoostingClassifier",
               REGRESSION: "sklearn.ensemble.GradientBoostingRegressor"},
              {"learning_rate": f"loguniform({_ln(0.01)}, {_ln(0.5)})",
               "n_estimators": "choice(50, 100, 200)", "max_depth": "choice(2, 3, 5)",
               "subsample": "uniform(0.5, 1.0)"},
              {"learning_rate": 0.1, "n_estimators": 100, "max_depth": 3, "subsample": 1.0}),
    ModelSpec("SVM",
              {CLASSIFICATION: "sklearn.svm.SVC", REGRESSION: "sklearn.svm.SVR"},
              {"C": f"loguniform({_ln(1e-2)}, {_ln(1e3)})",
               "gamma": f"loguniform({_ln(1e-4)}, {_ln(1.0)})"},
              {"C": 1.0, "gamma": 0.01}, {}, seeded=False, max_rows=10_000),
    ModelSpec("KNN",
              {CLASSIFICATION: "sklearn.neighbors.KNeighborsClassifier",
               REGRESSION: "sklearn.neighbors.KNeighborsRegressor"},
              {"n_neighbors": "choice(3, 5, 10, 20, 40)",
               "weights": "choice('uniform', 'distance')"},
              {"n_neighbors": 5, "weights": "distance"}, {}, seeded=False, max_rows=50_000),
    ModelSpec("DecisionTree",
              {CLASSIFICATION: "sklearn.tree.DecisionTreeClassifier",
               REGRESSION: "sklearn.tree.DecisionTreeRegressor"},
              {"max_depth": "choice(3, 5, 8, 12, 0)", "min_samples_leaf": "choice(1, 2, 4, 8, 16)"},
              {"max_depth": 8, "min_samples_leaf": 4}),
    ModelSpec("LightGBM",
              {CLASSIFICATION: "lightgbm.LGBMClassifier", REGRESSION: "lightgbm.LGBMRegressor"},
              {"learning_rate": f"loguniform({_ln(0.01)}, {_ln(0.3)})",
               "n_estimators": "choice(50, 100, 200, 400)",
               "num_leaves": "choice(7, 15, 31, 63)",
               "min_child_samples": "choice(5, 10, 20, 40)",
               "colsample_bytree": "uniform(0.5, 1.0)",
               "reg_lambda": f"loguniform({_ln(1e-4)}, {_ln(10)})"},
              {"learning_rate": 0.1, "n_estimators": 100, "num_leaves": 31,
               "min_child_samples": 20, "colsample_bytree": 1.0, "reg_lambda": 0.001},
              {"n_jobs": 1, "verbose": -1}, requires="lightgbm",
              install="pip install 'cumulus-ml[automl]' (or pip install lightgbm)"),
    ModelSpec("XGBoost",
              {CLASSIFICATION: "xgboost.XGBClassifier", REGRESSION: "xgboost.XGBRegressor"},
              {"learning_rate": f"loguniform({_ln(0.01)}, {_ln(0.3)})",
               "n_estimators": "choice(50, 100, 200, 400)", "max_depth": "choice(3, 4, 6, 8)",
               "subsample": "uniform(0.5, 1.0)", "colsample_bytree": "uniform(0.5, 1.0)"},
              {"learning_rate": 0.1, "n_estimators": 100, "max_depth": 6, "subsample": 1.0,
               "colsample_bytree": 1.0},
              {"n_jobs": 1, "tree_method": "hist"}, requires="xgboost",
              install="pip install xgboost"),
)}

#: Azure ML's names for the same families
ALIASES = {"XGBoostClassifier": "XGBoost", "XGBoostRegressor": "XGBoost",
           "ExtraTrees": "ExtremeRandomTrees", "SVC": "SVM", "SVR": "SVM",
           "LightGBMClassifier": "LightGBM", "LightGBMRegressor": "LightGBM",
           "HistGradientBoostingClassifier": "HistGradientBoosting",
           "HistGradientBoostingRegressor": "HistGradientBoosting"}


def _task_key(task: str) -> str:
    return REGRESSION if task == FORECASTING else task


def _resolve(name: Any, task: str) -> str:
    canonical = ALIASES.get(str(name), str(name))
    if canonical not in MODELS:
        names = sorted(MODELS)
        raise AutoMLError(f"Unknown model {name!r}. Allowed: {allowed_list(names)}."
                          + did_you_mean(str(name), names))
    if _task_key(task) not in MODELS[canonical].classes:
        fits = [n for n, m in MODELS.items() if _task_key(task) in m.classes]
        raise AutoMLError(f"Model {name!r} has no {task} estimator; for {task} choose from "
                          f"{allowed_list(fits)}.")
    return canonical


def candidates(task: str, allowed: Iterable[str] | None, blocked: Iterable[str] | None,
               n_rows: int) -> tuple[list[str], list[str]]:
    """The families to search for ``task`` and notes on those left out (and why).

    An explicitly allowed family that is not installed is refused with its install command;
    by default such families are left out with a note.
    """
    notes: list[str] = []
    blocked_set = {_resolve(b, task) for b in (blocked or ())}
    if allowed:
        chosen = list(dict.fromkeys(_resolve(a, task) for a in allowed))
        for name in chosen:
            if not MODELS[name].available():
                raise AutoMLError(f"allowed_models names {name!r}, whose library "
                                  f"{MODELS[name].requires!r} is not installed. Install it "
                                  f"with: {MODELS[name].install}")
    else:
        chosen = [n for n, m in MODELS.items() if _task_key(task) in m.classes]
        for name in [n for n in chosen if not MODELS[n].available()]:
            notes.append(f"{name} left out: {MODELS[name].requires} is not installed "
                         f"({MODELS[name].install})")
            chosen.remove(name)
    for name in [n for n in chosen if n in blocked_set]:
        chosen.remove(name)
        notes.append(f"{name} left out: blocked_models")
    for name in list(chosen):
        limit = MODELS[name].max_rows
        if limit is not None and n_rows > limit and not allowed:
            chosen.remove(name)
            notes.append(f"{name} left out: {n_rows} rows is above its limit of {limit}")
    if not chosen:
        fits = [n for n, m in MODELS.items() if _task_key(task) in m.classes]
        raise AutoMLError(f"no candidate model is left for {task} (blocked: "
                          f"{sorted(blocked_set)}); allow at least one of {allowed_list(fits)}.")
    return chosen, notes


def search_space(families: list[str]) -> dict[str, str]:
    """The flat sweep space: ``--model`` picks a family; ``--<Model>__<param>`` its settings
    (a trial reads only those of its own family)."""
    space = {"--model": "choice(" + ", ".join(repr(f) for f in families) + ")"}
    for family in families:
        for param, expr in MODELS[family].space.items():
            space[f"--{family}{SEP}{param}"] = expr
    return space


def default_points(families: list[str]) -> list[dict[str, Any]]:
    """One point per family with its defaults (every parameter named, as the sampler wants)."""
    base = {f"--{f}{SEP}{p}": v for f in families for p, v in MODELS[f].default.items()}
    order = ["LightGBM", "HistGradientBoosting", "RandomForest", "LogisticRegression",
             "ElasticNet", "ExtremeRandomTrees", "XGBoost", "SVM", "KNN", "GradientBoosting",
             "DecisionTree"]
    return [{**base, "--model": f} for f in sorted(families, key=order.index)]


def params_of(family: str, flags: Mapping[str, Any]) -> dict[str, Any]:
    """The hyperparameters of ``family`` among a trial's ``--Model__param`` values."""
    prefix = f"{family}{SEP}"
    return {k.lstrip("-")[len(prefix):]: v for k, v in flags.items()
            if k.lstrip("-").startswith(prefix)}


def build_estimator(family: str, task: str, params: Mapping[str, Any], seed: int = 0) -> Any:
    """An unfitted estimator of ``family`` for ``task`` with ``params``."""
    spec = MODELS[_resolve(family, task)]
    module, _, name = spec.classes[_task_key(task)].rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    kwargs: dict[str, Any] = {**spec.fixed, **_clean(params)}
    if spec.seeded:
        kwargs["random_state"] = seed
    if cls.__name__ == "SVC":
        kwargs["probability"] = True
    return cls(**kwargs)


def _clean(params: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        if key == "class_weight":
            value = None if value in ("none", None) else value
        elif key == "max_depth" and value in (0, "0"):
            value = None
        elif isinstance(value, float) and value.is_integer() and key in _INTS:
            value = int(value)
        out[key] = value
    return out


_INTS = {"n_estimators", "max_iter", "max_leaf_nodes", "min_samples_leaf", "num_leaves",
         "min_child_samples", "n_neighbors", "max_depth"}
