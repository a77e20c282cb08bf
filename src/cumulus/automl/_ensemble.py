"""The model an AutoML run produces, and greedy ensemble selection.

:class:`AutoMLModel` is one fitted pipeline or a weighted soft-voting ensemble of several; it
takes raw rows (a DataFrame with the training columns) and returns labels in the training
data's own values. :func:`select_ensemble` is Caruana et al.'s ensemble selection with
replacement over out-of-fold predictions: a pure function, tested with literals.

Example::

    >>> import numpy as np
    >>> preds = [np.array([1.0, 2.0, 3.0]), np.array([1.2, 2.2, 2.8]), np.array([0.0, 0.0, 0.0])]
    >>> neg_mse = lambda y, p: -float(np.mean((y - p) ** 2))
    >>> select_ensemble(preds, np.array([1.1, 2.1, 2.9]), neg_mse, rounds=4)
    [0.5, 0.5, 0.0]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


class AutoMLModel:
    """A fitted AutoML model: ``members`` (pipelines over the raw columns) averaged with
    ``weights``; classifiers' members were trained on class codes, decoded with ``classes``.

    Example::

        model = AutoMLModel([pipe], [1.0], "classification", classes=["no", "yes"],
                            columns=["age", "city"])
        model.predict(frame)        # -> array(['no', 'yes', ...])
    """

    def __init__(self, members: Sequence[Any], weights: Sequence[float], task: str, *,
                 classes: Sequence[Any] | None = None, columns: Sequence[str] = (),
                 names: Sequence[str] = ()) -> None:
        self.members = list(members)
        total = float(sum(weights)) or 1.0
        self.weights = [float(w) / total for w in weights]
        self.task = task
        self.classes_ = None if classes is None else np.asarray(list(classes), dtype=object)
        self.columns = list(columns)
        self.names = list(names)

    def _frame(self, X: Any) -> Any:
        import pandas as pd

        if not isinstance(X, pd.DataFrame):
            X = pd.DataFrame(X, columns=self.columns or None)
        missing = [c for c in self.columns if c not in X.columns]
        if missing:
            raise ValueError(f"the input lacks the column(s) {missing} the model was trained "
                             f"on; expected columns: {self.columns}")
        return X[self.columns] if self.columns else X

    def predict_proba(self, X: Any) -> Any:
        if self.classes_ is None:
            raise AttributeError("predict_proba: this is a regression model")
        frame = self._frame(X)
        out = np.zeros((len(frame), len(self.classes_)))
        for member, weight in zip(self.members, self.weights, strict=True):
            if weight:
                out += weight * np.asarray(member.predict_proba(frame))
        return out

    def predict(self, X: Any) -> Any:
        if self.classes_ is not None:
            return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
        frame = self._frame(X)
        out = np.zeros(len(frame))
        for member, weight in zip(self.members, self.weights, strict=True):
            if weight:
                out += weight * np.asarray(member.predict(frame), dtype=float)
        return out

    def __repr__(self) -> str:
        names = self.names or [str(i) for i in range(len(self.members))]
        parts = [f"{n}:{w:.2f}" for n, w in zip(names, self.weights, strict=True) if w]
        return f"AutoMLModel({self.task}, {', '.join(parts)})"


def select_ensemble(predictions: Sequence[Any], y: Any, score: Callable[[Any, Any], float],
                    rounds: int = 20) -> list[float]:
    """Weights (summing to 1) over ``predictions`` chosen greedily with replacement to
    maximise ``score(y, weighted average)``; stops early when no addition helps."""
    if not predictions:
        return []
    counts = [0] * len(predictions)
    current: Any = None
    best_so_far = -np.inf
    for step in range(rounds):
        scores = []
        for p in predictions:
            blend = p if current is None else (current * step + p) / (step + 1)
            scores.append(score(y, blend))
        pick = int(np.nanargmax(scores))
        if step > 0 and not scores[pick] > best_so_far:
            break
        best_so_far = scores[pick]
        counts[pick] += 1
        p = predictions[pick]
        current = p.copy() if current is None else (current * step + p) / (step + 1)
    total = sum(counts)
    return [c / total for c in counts]


def permutation_importance(predict: Callable[[Any], Any], frame: Any, y: Any,
                           score: Callable[[Any, Any], float], *, repeats: int = 3,
                           seed: int = 0) -> dict[str, float]:
    """How much ``score`` drops when each column of ``frame`` is shuffled (mean over
    ``repeats``), largest first."""
    rng = np.random.default_rng(seed)
    base = score(y, predict(frame))
    out: dict[str, float] = {}
    for column in frame.columns:
        drops = []
        for _ in range(repeats):
            shuffled = frame.copy()
            shuffled[column] = rng.permutation(shuffled[column].to_numpy())
            drops.append(base - score(y, predict(shuffled)))
        out[str(column)] = float(np.mean(drops))
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))
