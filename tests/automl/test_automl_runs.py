"""AutoML runs for real: trials are script runs on the workspace's local Dask target, the
search is a sweep with its controller process, the ensemble and leaderboard are built at the
end, and the best model registers and serves like any other."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from cumulus import Experiment
from cumulus.automl import AutoMLConfig, AutoMLRun
from cumulus.errors import AutoMLError
from cumulus.run import Run

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _customers(n: int = 240, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    income = rng.normal(50, 15, size=n)
    plan = rng.choice(["basic", "plus", "pro"], size=n)
    score = income / 10 + np.where(plan == "pro", 3, 0) + rng.normal(0, 1, size=n)
    frame = pd.DataFrame({
        "income": income, "plan": plan,
        "region": [f"r{i % 45}" for i in range(n)],            # high cardinality
        "customer_id": [f"c{i:05d}" for i in range(n)],       # an identifier: dropped
        "signup": pd.date_range("2023-01-01", periods=n, freq="D").astype(str),
        "churned": np.where(score > np.median(score), "stays", "leaves")})
    frame.loc[::17, "income"] = np.nan                         # imputed
    return frame


def test_classification_end_to_end(workspace, tmp_path) -> None:  # type: ignore[no-untyped-def]
    frame = _customers()
    exp = Experiment(workspace, "automl-cls")
    run = exp.submit(AutoMLConfig(task="classification", training_data=frame,
                                  label_column_name="churned", primary_metric="AUC_weighted",
                                  n_cross_validations=3, max_trials=4, max_concurrent_trials=2,
                                  allowed_models=["LogisticRegression", "RandomForest",
                                                  "HistGradientBoosting"]))
    assert isinstance(run, AutoMLRun)
    assert isinstance(Run.get(workspace, run.id), AutoMLRun)
    kinds = {g["name"]: g["status"] for g in run.get_guardrails()}
    assert kinds["Missing feature values imputation"] == "done"
    details = run.wait_for_completion(raise_on_error=False, timeout=600)
    assert details["status"] == "Completed", run.get_log()
    trials = [c for c in run.get_children() if c.kind != "automl_ensemble"]
    assert len(trials) == 4
    board = run.get_leaderboard()
    scored = [row["score"] for row in board if row["score"] is not None]
    assert scored and all(0.5 < s <= 1.0 for s in scored)
    assert scored[1:] == sorted(scored[1:], reverse=True)       # best first after the top
    assert {row["model"] for row in board} >= {"LogisticRegression", "RandomForest"}
    plan = {p["column"]: p for p in run.get_featurization_summary()}
    assert plan["customer_id"]["dropped"] and plan["region"]["kind"] == "high_cardinality"
    best_run, model = run.get_output()
    assert best_run.id == run.get_properties()["automl_best_run_id"]
    new = _customers(30, seed=1).drop(columns=["churned"])
    assert set(model.predict(new)) <= {"stays", "leaves"}
    assert model.predict_proba(new).shape == (30, 2)
    importance = run.get_feature_importance()
    assert set(importance) == {"income", "plan", "region", "signup"}
    assert max(importance, key=lambda k: importance[k]) in ("income", "plan")
    # the best model registers and serves raw rows through its generated scoring script
    from cumulus.models import InferenceConfig, LocalWebservice, Model

    registered = run.register_model("churn")
    script = run.get_scoring_script(str(tmp_path / "score.py"))
    svc = Model.deploy(workspace, "churn-svc", [registered],
                       InferenceConfig(entry_script="score.py", source_directory=str(tmp_path)),
                       LocalWebservice.deploy_configuration())
    try:
        svc.wait_for_deployment(timeout_sec=120)
        answer = svc.run({"data": new.head(3).to_dict(orient="records")})
        assert len(answer["predictions"]) == 3 and answer["classes"] == ["leaves", "stays"]
    finally:
        svc.delete()
    assert script.name == "score.py"


def test_regression_with_validation_data_and_the_cli(workspace) -> None:  # type: ignore[no-untyped-def]
    from sklearn.datasets import load_diabetes

    data = load_diabetes(as_frame=True).frame
    train, valid = data.iloc[:330], data.iloc[330:]
    run = Experiment(workspace, "automl-reg").submit(
        AutoMLConfig(task="regression", training_data=train, validation_data=valid,
                     label_column_name="target", primary_metric="r2_score", max_trials=3,
                     allowed_models=["ElasticNet", "HistGradientBoosting"],
                     enable_ensembling=False))
    assert run.wait_for_completion(raise_on_error=False, timeout=600)["status"] == "Completed"
    board = run.get_leaderboard()
    assert board[0]["model"] in ("ElasticNet", "HistGradientBoosting")
    assert board[0]["score"] > 0.2                                # diabetes: r2 ~0.4-0.5
    best, model = run.get_output()
    assert best.id == board[0]["run_id"]
    assert model.predict(valid.drop(columns=["target"])).shape == (len(valid),)
    shown = subprocess.run([sys.executable, "-m", "cumulus.cli._entry", "automl", "show",
                            run.id, "-n", "3"], cwd=workspace.root, capture_output=True,
                           text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert shown.returncode == 0, shown.stderr
    assert "Leaderboard (r2_score)" in shown.stdout and "Validation split" in shown.stdout


def test_refusals_happen_before_anything_is_recorded(workspace) -> None:  # type: ignore[no-untyped-def]
    exp = Experiment(workspace, "automl-bad")
    before = len(list(exp.get_runs(include_children=True)))
    frame = _customers(60)
    with pytest.raises(AutoMLError, match="column 'leak' is identical to the label"):
        exp.submit(AutoMLConfig(task="classification", label_column_name="churned",
                                training_data=frame.assign(leak=frame["churned"])))
    with pytest.raises(AutoMLError, match="label_column_name 'churn' is not a column.*churned"):
        exp.submit(AutoMLConfig(task="classification", label_column_name="churn",
                                training_data=frame))
    with pytest.raises(AutoMLError, match="does not exist"):
        exp.submit(AutoMLConfig(task="classification", label_column_name="churned",
                                training_data=workspace.get_default_datastore().path("no.csv")))
    after = len(list(exp.get_runs(include_children=True)))
    assert after == before


def test_forecasting_uses_time_ordered_folds_and_date_features(workspace) -> None:  # type: ignore[no-untyped-def]
    days = pd.date_range("2024-01-01", periods=200, freq="D")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"date": days.astype(str), "promo": rng.integers(0, 2, size=200),
                          "sales": 100 + 10 * (days.dayofweek >= 5) + 5 * np.arange(200) / 200
                          + rng.normal(0, 1, size=200)})
    run = Experiment(workspace, "automl-forecast").submit(AutoMLConfig(
        task="forecasting", training_data=frame, label_column_name="sales",
        time_column_name="date", n_cross_validations=3, max_trials=2,
        allowed_models=["HistGradientBoosting", "ElasticNet"], enable_ensembling=False))
    assert run.wait_for_completion(raise_on_error=False, timeout=600)["status"] == "Completed"
    plan = {p["column"]: p for p in run.get_featurization_summary()}
    assert plan["date"]["kind"] == "datetime"
    split = next(g for g in run.get_guardrails() if g["name"] == "Validation split handling")
    assert "time-ordered" in split["details"]
    _, model = run.get_output()
    future = pd.DataFrame({"date": ["2024-07-20", "2024-07-22"], "promo": [0, 0]})
    weekend, weekday = model.predict(future)
    assert weekend > weekday                       # Saturday sales learnt from date features
