"""Featurization: a scikit-learn transformer built from a featurization plan (see
:mod:`cumulus.automl._data`). The fitted pipeline takes the raw columns, so the model that is
registered and deployed scores raw rows.

Example::

    pipe = make_pipeline(plan, estimator, task="classification")
    pipe.fit(frame.drop(columns=["y"]), frame["y"])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._data import ColumnPlan

DATE_PARTS = ("year", "month", "day", "dayofweek", "hour", "dayofyear")


def as_text(frame: Any) -> Any:
    """Text columns as strings with one 'missing' category (picklable: a module function)."""
    return frame.astype("object").where(frame.notna(), "__missing__").astype(str)


def date_parts(frame: Any) -> Any:
    """Each date column as year, month, day, day of week, hour and day of year."""
    import pandas as pd

    out = {}
    for name in frame.columns:
        col = pd.to_datetime(frame[name], errors="coerce")
        for part in DATE_PARTS:
            out[f"{name}_{part}"] = getattr(col.dt, part).astype(float)
    return pd.DataFrame(out, index=frame.index)


def build_featurizer(plan: Sequence[ColumnPlan], task: str) -> Any:
    """A ColumnTransformer for the columns ``plan`` keeps (the others are dropped)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    kept = [p for p in plan if p.dropped is None]
    by_kind: dict[str, list[str]] = {}
    for p in kept:
        by_kind.setdefault(p.kind, []).append(p.column)
    parts: list[tuple[str, Any, list[str]]] = []
    if by_kind.get("numeric"):
        parts.append(("numeric", make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True), StandardScaler()),
            by_kind["numeric"]))
    if by_kind.get("categorical"):
        parts.append(("categorical", make_pipeline(
            FunctionTransformer(as_text, feature_names_out="one-to-one"),
            OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
            by_kind["categorical"]))
    if by_kind.get("high_cardinality"):
        from sklearn.preprocessing import TargetEncoder

        target_type = "auto" if task == "classification" else "continuous"
        parts.append(("high_cardinality", make_pipeline(
            FunctionTransformer(as_text, feature_names_out="one-to-one"),
            TargetEncoder(target_type=target_type, random_state=0)),
            by_kind["high_cardinality"]))
    if by_kind.get("datetime"):
        parts.append(("datetime", make_pipeline(
            FunctionTransformer(date_parts), SimpleImputer(strategy="median")),
            by_kind["datetime"]))
    return ColumnTransformer(parts, remainder="drop", sparse_threshold=0.0)


def make_pipeline(plan: Sequence[ColumnPlan], estimator: Any, task: str) -> Any:
    from sklearn.pipeline import Pipeline

    return Pipeline([("featurize", build_featurizer(plan, task)), ("model", estimator)])


def feature_columns(plan: Sequence[ColumnPlan]) -> list[str]:
    """The raw columns a fitted pipeline reads (in plan order)."""
    return [p.column for p in plan if p.dropped is None]


def as_float(values: Any) -> Any:
    return np.asarray(values, dtype=float)
