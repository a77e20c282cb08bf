"""Pure decisions of automated ML: metrics, candidates, featurization plans, guardrails and
ensemble selection, tested with literals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cumulus.automl import AutoMLConfig, AutoMLModel, analyze, select_ensemble
from cumulus.automl._ensemble import permutation_importance
from cumulus.automl._metrics import check_metric, score_all
from cumulus.automl._models import (
    MODELS,
    build_estimator,
    candidates,
    default_points,
    params_of,
    search_space,
)
from cumulus.errors import AutoMLError, ValidationError
from cumulus.sweeps import BayesianSampling, SearchSpace


def test_metric_must_fit_the_task() -> None:
    assert check_metric("regression", None) == "normalized_root_mean_squared_error"
    with pytest.raises(ValidationError, match="'AUC_weighted' is a classification metric.*"
                                              "r2_score"):
        check_metric("regression", "AUC_weighted")
    with pytest.raises(ValidationError, match="Unknown primary_metric 'acuracy'.*accuracy"):
        check_metric("classification", "acuracy")


def test_scores_on_literals() -> None:
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    scores = score_all("classification", [0, 1, 1, 1], proba.argmax(axis=1), proba, [0, 1])
    assert scores["accuracy"] == 0.75
    assert scores["AUC_weighted"] == 1.0          # every positive ranked above the negative
    reg = score_all("regression", [1.0, 2.0, 3.0], [1.0, 2.0, 4.0])
    assert reg["mean_absolute_error"] == pytest.approx(1 / 3)
    assert reg["normalized_root_mean_squared_error"] == pytest.approx(np.sqrt(1 / 3) / 2)


def test_candidates_allowed_blocked_and_limits() -> None:
    chosen, notes = candidates("regression", None, ["RandomForest", "KNN"], n_rows=100)
    assert "RandomForest" not in chosen and "LogisticRegression" not in chosen
    assert "ElasticNet" in chosen and "HistGradientBoosting" in chosen
    assert any("KNN left out: blocked_models" in n for n in notes)
    big, notes = candidates("classification", None, None, n_rows=20_000)
    assert "SVM" not in big and any("SVM left out: 20000 rows" in n for n in notes)
    assert candidates("classification", ["XGBoostClassifier", "SVC"], None, 10)[0][-1] == "SVM" \
        if MODELS["XGBoost"].available() else True
    with pytest.raises(AutoMLError, match="Unknown model 'RandomForrest'.*RandomForest"):
        candidates("classification", ["RandomForrest"], None, 10)
    with pytest.raises(AutoMLError, match="'LogisticRegression' has no regression estimator"):
        candidates("regression", ["LogisticRegression"], None, 10)
    with pytest.raises(AutoMLError, match="no candidate model is left"):
        candidates("regression", ["ElasticNet"], ["ElasticNet"], 10)


def test_space_defaults_and_estimators_agree() -> None:
    families = ["LogisticRegression", "RandomForest", "HistGradientBoosting", "KNN"]
    space = search_space(families)
    points = default_points(families)
    assert [p["--model"] for p in points] == ["HistGradientBoosting", "RandomForest",
                                               "LogisticRegression", "KNN"]
    sampler = BayesianSampling(SearchSpace.from_dict(space), seed=1, initial_points=points)
    assert sampler.suggest([], 2, goal="maximize") == points[:2]
    first = points[2]
    params = params_of("LogisticRegression", first)
    assert params == {"C": 1.0, "class_weight": "none"}
    est = build_estimator("LogisticRegression", "classification", params, seed=3)
    assert est.C == 1.0 and est.class_weight is None and est.random_state == 3
    tree = build_estimator("DecisionTree", "regression", {"max_depth": 0, "min_samples_leaf": 2.0})
    assert tree.max_depth is None and tree.min_samples_leaf == 2


def _frame(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    x[:5] = np.nan
    return pd.DataFrame({
        "x": x, "city": rng.choice(["a", "b", "c"], size=n),
        "user": [f"u{i % 40}" for i in range(n)], "row_id": [f"id-{i}" for i in range(n)],
        "const": 1, "when": pd.date_range("2024-01-01", periods=n, freq="D").astype(str),
        "y": ["yes" if i % 3 else "no" for i in range(n)]})


def test_plan_names_what_happens_to_each_column() -> None:
    plan, guards = analyze(_frame(), label="y", task="classification", n_cross_validations=5)
    by = {p.column: p for p in plan}
    assert by["x"].kind == "numeric" and by["x"].missing == 5
    assert by["x"].transformations[0].startswith("impute median (5 missing)")
    assert by["city"].kind == "categorical" and "one-hot (3 values)" in by["city"].transformations
    assert by["user"].kind == "high_cardinality"
    assert by["row_id"].dropped and "identifier" in by["row_id"].dropped
    assert by["const"].dropped and "single value" in by["const"].dropped
    assert by["when"].kind == "datetime"
    status = {g.name: g.status for g in guards}
    assert status["Missing feature values imputation"] == "done"
    assert status["High cardinality feature detection"] == "done"
    assert status["Class balancing detection"] == "passed"


@pytest.mark.parametrize(("change", "kwargs", "message"), [
    (None, {"label": "target"}, "label_column_name 'target' is not a column.*'y'"),
    (lambda f: f.assign(y="yes"), {}, "single class"),
    (lambda f: f.assign(copy=f["y"]), {}, "column 'copy' is identical to the label"),
    (lambda f: f.assign(y=["a"] * 57 + ["b"] * 3), {}, r"fewer rows than n_cross_validations=5"),
    (None, {"task": "regression"}, "needs a numeric label"),
    (lambda f: f.head(8), {}, "8 labelled rows"),
    (None, {"drop_columns": ("nope",)}, r"drop_column_names \['nope'\]"),
])
def test_bad_data_is_refused_with_the_fix(change, kwargs, message) -> None:  # type: ignore[no-untyped-def]
    frame = _frame() if change is None else change(_frame())
    args = {"label": "y", "task": "classification", "n_cross_validations": 5, **kwargs}
    with pytest.raises(AutoMLError, match=message):
        analyze(frame, **args)


def test_imbalance_is_reported() -> None:
    frame = _frame().assign(y=["a"] * 54 + ["b"] * 6)
    _, guards = analyze(frame, label="y", task="classification", n_cross_validations=5)
    alert = next(g for g in guards if g.name == "Class balancing detection")
    assert alert.status == "alerted" and "'b' has 6 rows against 54" in alert.details


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"task": "clasification"}, "task must be one of.*classification"),
    ({"primary_metric": "r2_score"}, "'r2_score' is a regression metric"),
    ({"label_column_name": None}, "label_column_name must name the column"),
    ({"training_data": None}, "training_data is required"),
    ({"task": "forecasting", "primary_metric": None}, "needs time_column_name"),
    ({"max_trials": 0}, "max_trials must be an int >= 1"),
    ({"n_cross_validations": 1}, "n_cross_validations must be an int >= 2"),
    ({"experiment_timeout_minutes": -1}, "experiment_timeout_minutes must be a number"),
])
def test_config_is_checked_at_construction(kwargs, message) -> None:  # type: ignore[no-untyped-def]
    args = {"task": "classification", "training_data": _frame(), "label_column_name": "y",
            **kwargs}
    with pytest.raises(ValidationError, match=message):
        AutoMLConfig(**args)


def test_ensemble_selection_on_literals() -> None:
    truth = np.array([0, 1, 1, 0])
    a = np.array([[0.9, 0.1], [0.1, 0.9], [0.55, 0.45], [0.9, 0.1]])   # just misses row 2
    b = np.array([[0.45, 0.55], [0.2, 0.8], [0.1, 0.9], [0.8, 0.2]])   # just misses row 0
    c = np.array([[0.5, 0.5], [0.5, 0.5], [0.5, 0.5], [0.5, 0.5]])

    def acc(y, p):  # type: ignore[no-untyped-def]
        return float(np.mean(np.argmax(p, axis=1) == y))

    weights = select_ensemble([a, b, c], truth, acc, rounds=6)
    assert weights[2] == 0.0 and weights[0] > 0 and weights[1] > 0
    blend = weights[0] * a + weights[1] * b
    assert acc(truth, blend) == 1.0
    assert select_ensemble([a], truth, acc) == [1.0]


class _Const:
    def __init__(self, p: list[float]) -> None:
        self.p = p

    def predict_proba(self, frame):  # type: ignore[no-untyped-def]
        return np.tile(self.p, (len(frame), 1))


def test_model_decodes_labels_and_checks_columns() -> None:
    model = AutoMLModel([_Const([0.8, 0.2]), _Const([0.0, 1.0])], [1, 3], "classification",
                        classes=["no", "yes"], columns=["a"])
    frame = pd.DataFrame({"a": [1, 2], "b": [3, 4]})
    assert list(model.predict(frame)) == ["yes", "yes"]
    assert model.predict_proba(frame)[0].tolist() == pytest.approx([0.2, 0.8])
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['a'\]"):
        model.predict(pd.DataFrame({"b": [1]}))


def test_permutation_importance_ranks_the_column_that_matters() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"signal": rng.normal(size=200), "noise": rng.normal(size=200)})
    y = frame["signal"].to_numpy() * 2

    def neg_mse(t, p):  # type: ignore[no-untyped-def]
        return -float(np.mean((t - p) ** 2))

    ranked = permutation_importance(lambda X: X["signal"].to_numpy() * 2, frame, y, neg_mse)
    assert list(ranked) == ["signal", "noise"] and ranked["noise"] == 0.0
