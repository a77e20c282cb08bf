"""The metrics an AutoML run optimises and reports, named as in Azure ML's automated ML.

Pure functions over arrays; the table says which task each metric fits and its goal.

Example::

    >>> METRICS["AUC_weighted"].goal
    'maximize'
    >>> check_metric("regression", "AUC_weighted")
    Traceback (most recent call last):
    ...
    cumulus.errors.ValidationError: primary_metric 'AUC_weighted' is a classification metric, ...
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cumulus.errors import ValidationError, allowed_list, did_you_mean

CLASSIFICATION = "classification"
REGRESSION = "regression"
FORECASTING = "forecasting"
TASKS = (CLASSIFICATION, REGRESSION, FORECASTING)


@dataclass(frozen=True)
class Metric:
    """One metric: the tasks it applies to, its goal and how it is computed from
    ``(y_true, y_pred, proba, classes)`` (``proba`` only for classification)."""

    name: str
    tasks: tuple[str, ...]
    goal: str
    fn: Callable[..., float]


def _accuracy(y: Any, pred: Any, proba: Any, classes: Any) -> float:
    return float(np.mean(np.asarray(y) == np.asarray(pred)))


def _balanced_accuracy(y: Any, pred: Any, proba: Any, classes: Any) -> float:
    from sklearn.metrics import balanced_accuracy_score

    return float(balanced_accuracy_score(y, pred))


def _auc_weighted(y: Any, pred: Any, proba: Any, classes: Any) -> float:
    from sklearn.metrics import roc_auc_score

    if len(classes) == 2:
        return float(roc_auc_score(y, proba[:, 1]))
    present = np.isin(classes, np.unique(y))
    if present.sum() < 2:
        return float("nan")
    p = proba[:, present]
    p = p / np.clip(p.sum(axis=1, keepdims=True), 1e-12, None)
    return float(roc_auc_score(y, p, multi_class="ovr", average="weighted",
                               labels=np.asarray(classes)[present]))


def _average_precision_weighted(y: Any, pred: Any, proba: Any, classes: Any) -> float:
    from sklearn.metrics import average_precision_score
    from sklearn.preprocessing import label_binarize

    if len(classes) == 2:
        return float(average_precision_score(np.asarray(y) == classes[1], proba[:, 1]))
    onehot = label_binarize(y, classes=list(classes))
    return float(average_precision_score(onehot, proba, average="weighted"))


def _f1_weighted(y: Any, pred: Any, proba: Any, classes: Any) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y, pred, average="weighted", zero_division=0))


def _precision_weighted(y: Any, pred: Any, proba: Any, classes: Any) -> float:
    from sklearn.metrics import precision_score

    return float(precision_score(y, pred, average="weighted", zero_division=0))


def _norm_macro_recall(y: Any, pred: Any, proba: Any, classes: Any) -> float:
    from sklearn.metrics import recall_score

    r = float(recall_score(y, pred, average="macro", zero_division=0))
    chance = 1.0 / max(2, len(classes))
    return max(0.0, (r - chance) / (1 - chance))


def _log_loss(y: Any, pred: Any, proba: Any, classes: Any) -> float:
    from sklearn.metrics import log_loss

    return float(log_loss(y, np.clip(proba, 1e-15, 1), labels=list(classes)))


def _spread(y: Any) -> float:
    y = np.asarray(y, dtype=float)
    spread = float(y.max() - y.min()) if y.size else 0.0
    return spread if spread > 0 else 1.0


def _rmse(y: Any, pred: Any, proba: Any, classes: Any) -> float:
    diff = np.asarray(y, dtype=float) - np.asarray(pred, dtype=float)
    return float(np.sqrt(np.mean(diff ** 2)))


def _mae(y: Any, pred: Any, proba: Any, classes: Any) -> float:
    return float(np.mean(np.abs(np.asarray(y, dtype=float) - np.asarray(pred, dtype=float))))


def _nrmse(y: Any, pred: Any, proba: Any, classes: Any) -> float:
    return _rmse(y, pred, proba, classes) / _spread(y)


def _nmae(y: Any, pred: Any, proba: Any, classes: Any) -> float:
    return _mae(y, pred, proba, classes) / _spread(y)


def _r2(y: Any, pred: Any, proba: Any, classes: Any) -> float:
    from sklearn.metrics import r2_score

    return float(r2_score(y, pred))


def _spearman(y: Any, pred: Any, proba: Any, classes: Any) -> float:
    from scipy.stats import spearmanr

    value = spearmanr(y, pred).statistic
    return float(value) if np.isfinite(value) else 0.0


_CLS = (CLASSIFICATION,)
_REG = (REGRESSION, FORECASTING)
METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("accuracy", _CLS, "maximize", _accuracy),
    Metric("AUC_weighted", _CLS, "maximize", _auc_weighted),
    Metric("average_precision_score_weighted", _CLS, "maximize", _average_precision_weighted),
    Metric("balanced_accuracy", _CLS, "maximize", _balanced_accuracy),
    Metric("f1_score_weighted", _CLS, "maximize", _f1_weighted),
    Metric("norm_macro_recall", _CLS, "maximize", _norm_macro_recall),
    Metric("precision_score_weighted", _CLS, "maximize", _precision_weighted),
    Metric("log_loss", _CLS, "minimize", _log_loss),
    Metric("spearman_correlation", _REG, "maximize", _spearman),
    Metric("r2_score", _REG, "maximize", _r2),
    Metric("normalized_root_mean_squared_error", _REG, "minimize", _nrmse),
    Metric("normalized_mean_absolute_error", _REG, "minimize", _nmae),
    Metric("root_mean_squared_error", _REG, "minimize", _rmse),
    Metric("mean_absolute_error", _REG, "minimize", _mae),
)}

#: the primary metric when none is given (Azure ML's defaults)
DEFAULT_METRIC = {CLASSIFICATION: "accuracy", REGRESSION: "normalized_root_mean_squared_error",
                  FORECASTING: "normalized_root_mean_squared_error"}


def check_task(task: Any) -> str:
    if task not in TASKS:
        raise ValidationError(f"task must be one of {allowed_list(TASKS)}, got {task!r}."
                              + did_you_mean(str(task), TASKS))
    return str(task)


def check_metric(task: str, metric: Any) -> str:
    """The primary metric for ``task`` (its default when ``metric`` is None)."""
    if metric is None:
        return DEFAULT_METRIC[task]
    if metric not in METRICS:
        names = [n for n, m in METRICS.items() if task in m.tasks]
        raise ValidationError(f"Unknown primary_metric {metric!r} for task {task!r}. "
                              f"Allowed: {allowed_list(names)}." + did_you_mean(str(metric), names))
    spec = METRICS[metric]
    if task not in spec.tasks:
        names = [n for n, m in METRICS.items() if task in m.tasks]
        raise ValidationError(
            f"primary_metric {metric!r} is a {spec.tasks[0]} metric, but the task is {task!r}. "
            f"For {task} use one of {allowed_list(names)}.")
    return str(metric)


def metrics_for(task: str) -> list[str]:
    return [n for n, m in METRICS.items() if task in m.tasks]


def score_all(task: str, y: Any, pred: Any, proba: Any = None,
              classes: Sequence[Any] = ()) -> dict[str, float]:
    """Every metric of ``task`` on one set of predictions (NaN where one is undefined)."""
    out: dict[str, float] = {}
    for name in metrics_for(task):
        try:
            out[name] = METRICS[name].fn(y, pred, proba, classes)
        except (ValueError, ZeroDivisionError):
            out[name] = float("nan")
    return out
