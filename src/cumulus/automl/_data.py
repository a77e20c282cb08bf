"""Training data for automated ML: loading it, refusing what cannot work, and deciding (as
data) how each column is featurized.

:func:`analyze` is a pure function over a DataFrame: it returns the featurization plan (one
:class:`ColumnPlan` per column: its kind, what happens to it, or why it is dropped) and the
guardrails users of Azure ML's automated ML know (class balancing, missing values, high
cardinality, validation split). Refusals (no label column, one class, a column identical to
the label, ...) raise :class:`~cumulus.errors.AutoMLError` before anything is scheduled.

Example::

    plan, guardrails = analyze(df, label="y", task="classification", n_cross_validations=5)
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cumulus.errors import AutoMLError, allowed_list, did_you_mean

from ._metrics import CLASSIFICATION, FORECASTING

ONE_HOT_LIMIT = 30           # distinct values up to which a text column is one-hot encoded
IMBALANCE_RATIO = 0.2        # smallest class / largest class below this: an alert


@dataclass(frozen=True)
class ColumnPlan:
    """How one input column is featurized: ``kind`` is numeric, categorical,
    high_cardinality or datetime; ``dropped`` says why a column is not used."""

    column: str
    kind: str
    transformations: tuple[str, ...] = ()
    missing: int = 0
    distinct: int = 0
    dropped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["transformations"] = list(self.transformations)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnPlan:
        return cls(**{**data, "transformations": tuple(data.get("transformations") or ())})


@dataclass(frozen=True)
class Guardrail:
    """One data check: ``status`` is passed, done (something was fixed) or alerted."""

    name: str
    status: str
    details: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_frame(ws: Any, data: Any, what: str = "training_data") -> Any:
    """A pandas DataFrame from a DataFrame, a tabular dataset, a datastore path or a local
    CSV/Parquet/JSON-lines file."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if hasattr(data, "to_pandas_dataframe"):
        return data.to_pandas_dataframe()
    from cumulus.datastores._datapath import DataPath

    if isinstance(data, DataPath):
        store = ws.datastores.get(data.datastore)
        if store is None:
            raise AutoMLError(f"{what}: no datastore {data.datastore!r} in the workspace; "
                              f"registered: {allowed_list(ws.datastores)}.")
        full = store.full_path(data.path_on_datastore)
        if not store.fs.exists(full):
            raise AutoMLError(f"{what}: {data.datastore}:{data.path_on_datastore} does not "
                              f"exist; upload it first (ds.upload_files([...])).")
        with store.fs.open(full, "rb") as fh:
            return _read(fh, data.path_on_datastore, what)
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if not path.is_file():
            raise AutoMLError(f"{what}: {str(data)!r} is not a file. Give a DataFrame, a "
                              f"tabular dataset, ds.path('file.csv') or a local CSV/Parquet.")
        with open(path, "rb") as fh:
            return _read(fh, path.name, what)
    raise AutoMLError(f"{what} must be a pandas DataFrame, a tabular dataset, a datastore path "
                      f"(ds.path('train.csv')) or a local CSV/Parquet file; got "
                      f"{type(data).__name__}.")


def _read(fh: Any, name: str, what: str) -> Any:
    import pandas as pd

    lower = name.lower()
    if lower.endswith(".parquet"):
        return pd.read_parquet(fh)
    if lower.endswith((".jsonl", ".json")):
        return pd.read_json(fh, lines=lower.endswith(".jsonl"))
    if lower.endswith((".csv", ".csv.gz", ".txt", ".tsv")):
        return pd.read_csv(fh, sep="\t" if lower.endswith(".tsv") else ",")
    raise AutoMLError(f"{what}: cannot read {name!r}; use .csv, .tsv, .parquet or .jsonl.")


# --------------------------------------------------------------------------- analysis


def analyze(df: Any, *, label: str, task: str, n_cross_validations: int | None,
            time_column: str | None = None, drop_columns: tuple[str, ...] = (),
            validation: Any = None) -> tuple[list[ColumnPlan], list[Guardrail]]:
    """The featurization plan and guardrails for ``df`` (refusals raise AutoMLError)."""
    import pandas as pd

    columns = [str(c) for c in df.columns]
    _check_label(columns, label)
    for name, value in (("time_column_name", time_column),):
        if value is not None and value not in columns:
            raise AutoMLError(f"{name} {value!r} is not a column of the training data; its "
                              f"columns are {allowed_list(columns)}."
                              + did_you_mean(value, columns))
    unknown = [c for c in drop_columns if c not in columns]
    if unknown:
        raise AutoMLError(f"drop_column_names {unknown} are not columns of the training data; "
                          f"its columns are {allowed_list(columns)}.")
    y = df[label]
    guardrails: list[Guardrail] = []
    missing_label = int(y.isna().sum())
    if missing_label == len(df):
        raise AutoMLError(f"label column {label!r} has no values.")
    labelled = df[y.notna()]
    y = labelled[label]
    if len(labelled) < 10:
        raise AutoMLError(f"the training data has {len(labelled)} labelled rows; automated ML "
                          f"needs at least 10 (and far more to learn anything).")
    if task == CLASSIFICATION:
        guardrails.append(_class_balance(y, n_cross_validations, validation))
    elif not pd.api.types.is_numeric_dtype(y):
        raise AutoMLError(f"task {task!r} needs a numeric label, but {label!r} holds "
                          f"{y.dtype} values such as {y.iloc[0]!r}; use "
                          f"task='classification' for categories.")
    plan = [_column(labelled[c], str(c), label_values=y, forced_time=str(c) == time_column,
                    dropped_by_user=str(c) in drop_columns)
            for c in labelled.columns if str(c) != label]
    if not any(p.dropped is None for p in plan):
        raise AutoMLError(f"no usable feature column is left: {_dropped_text(plan)}.")
    guardrails.append(_missing_guardrail(plan, missing_label, label))
    guardrails.append(_cardinality_guardrail(plan))
    guardrails.append(_split_guardrail(len(labelled), n_cross_validations, validation, task))
    return plan, guardrails


def _check_label(columns: list[str], label: Any) -> None:
    if not isinstance(label, str) or label not in columns:
        raise AutoMLError(f"label_column_name {label!r} is not a column of the training data; "
                          f"its columns are {allowed_list(columns)}."
                          + did_you_mean(str(label), columns))


def _class_balance(y: Any, n_cv: int | None, validation: Any) -> Guardrail:
    counts = y.value_counts()
    if len(counts) < 2:
        raise AutoMLError(f"the label has a single class ({counts.index[0]!r}); "
                          f"classification needs at least two. Check the label column or "
                          f"the rows selected.")
    if n_cv and validation is None and int(counts.min()) < n_cv:
        rare = [str(k) for k, v in counts.items() if v < n_cv]
        raise AutoMLError(f"class(es) {rare} have fewer rows than n_cross_validations="
                          f"{n_cv} (smallest: {int(counts.min())}); lower n_cross_validations "
                          f"or add rows of those classes.")
    ratio = float(counts.min()) / float(counts.max())
    if ratio < IMBALANCE_RATIO:
        return Guardrail("Class balancing detection", "alerted",
                         f"class {counts.idxmin()!r} has {int(counts.min())} rows against "
                         f"{int(counts.max())} of {counts.idxmax()!r} (ratio {ratio:.2f}); "
                         f"consider primary_metric='AUC_weighted' or 'balanced_accuracy' and "
                         f"class_weight (searched for linear models).")
    return Guardrail("Class balancing detection", "passed",
                     f"{len(counts)} classes, smallest/largest = {ratio:.2f}")


def _column(col: Any, name: str, *, label_values: Any, forced_time: bool,
            dropped_by_user: bool) -> ColumnPlan:
    import pandas as pd

    missing, n = int(col.isna().sum()), len(col)
    distinct = int(col.nunique(dropna=True))
    if dropped_by_user:
        return ColumnPlan(name, "ignored", missing=missing, distinct=distinct,
                          dropped="drop_column_names")
    if _same_as_label(col, label_values):
        raise AutoMLError(f"column {name!r} is identical to the label: a model would learn "
                          f"nothing but the answer (target leakage). Remove it, or pass "
                          f"drop_column_names=[{name!r}].")
    if missing == n:
        return ColumnPlan(name, "empty", missing=missing, dropped="all values missing")
    if distinct <= 1:
        return ColumnPlan(name, "constant", missing=missing, distinct=distinct,
                          dropped="a single value: carries no information")
    impute = (f"impute median ({missing} missing) + missing indicator",) if missing else ()
    if forced_time or pd.api.types.is_datetime64_any_dtype(col) or _looks_like_dates(col):
        return ColumnPlan(name, "datetime", ("date parts: year, month, day, day of week, hour, "
                                             "day of year",), missing, distinct)
    if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        return ColumnPlan(name, "numeric", (*impute, "standard scaling"), missing, distinct)
    if distinct == n - missing and distinct > ONE_HOT_LIMIT:
        return ColumnPlan(name, "identifier", missing=missing, distinct=distinct,
                          dropped="every value is unique (an identifier): nothing to learn")
    fill = (f"fill {missing} missing with a 'missing' category",) if missing else ()
    if distinct <= ONE_HOT_LIMIT:
        return ColumnPlan(name, "categorical", (*fill, f"one-hot ({distinct} values)"),
                          missing, distinct)
    return ColumnPlan(name, "high_cardinality",
                      (*fill, f"target encoding ({distinct} values, cross-fitted)"),
                      missing, distinct)


def _same_as_label(col: Any, label_values: Any) -> bool:
    if len(col) != len(label_values):
        return False
    try:
        return bool((col.astype(str).to_numpy() == label_values.astype(str).to_numpy()).all())
    except (TypeError, ValueError):
        return False


def _looks_like_dates(col: Any) -> bool:
    import warnings

    import pandas as pd

    if not (col.dtype == object or pd.api.types.is_string_dtype(col)):
        return False
    sample = col.dropna().astype(str).head(200)
    if sample.empty or not sample.str.contains(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}/\d{2,4}",
                                               regex=True).all():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(sample, errors="coerce")
    return bool(parsed.notna().mean() >= 0.95)


def _dropped_text(plan: list[ColumnPlan]) -> str:
    return "; ".join(f"{p.column!r}: {p.dropped}" for p in plan if p.dropped) or "none"


def _missing_guardrail(plan: list[ColumnPlan], missing_label: int, label: str) -> Guardrail:
    filled = [f"{p.column} ({p.missing})" for p in plan if p.missing and not p.dropped]
    notes = []
    if filled:
        notes.append("missing values filled in: " + ", ".join(filled))
    if missing_label:
        notes.append(f"{missing_label} row(s) without a {label!r} value left out")
    if not notes:
        return Guardrail("Missing feature values imputation", "passed", "no missing values")
    return Guardrail("Missing feature values imputation", "done", "; ".join(notes))


def _cardinality_guardrail(plan: list[ColumnPlan]) -> Guardrail:
    high = [f"{p.column} ({p.distinct} values: target encoded)" for p in plan
            if p.kind == "high_cardinality"]
    ids = [f"{p.column} (dropped: {p.dropped})" for p in plan
           if p.kind in ("identifier", "constant", "empty")]
    if not high and not ids:
        return Guardrail("High cardinality feature detection", "passed",
                         "no high-cardinality or identifier columns")
    return Guardrail("High cardinality feature detection", "done", "; ".join(high + ids))


def _split_guardrail(rows: int, n_cv: int | None, validation: Any, task: str) -> Guardrail:
    if validation is not None:
        return Guardrail("Validation split handling", "done",
                         f"{rows} training rows; scored on the validation_data given")
    kind = "time-ordered" if task == FORECASTING else (
        "stratified" if task == CLASSIFICATION else "shuffled")
    return Guardrail("Validation split handling", "done",
                     f"{n_cv}-fold {kind} cross-validation over {rows} rows")
