"""Shape stored metric rows into what ``Run.get_metrics()`` returns.

A scalar logged once is a value, logged many times a list; ``log_list`` gives a list;
``log_row`` rows become a dict of column lists; ``log_table`` a dict of columns; images are
artifact paths.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any


def aggregate(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    series: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        series.setdefault(row["name"], []).append(row)
    return {name: _shape(items) for name, items in series.items()}


def _value(row: dict[str, Any]) -> Any:
    if row["data"] is not None:
        return json.loads(row["data"])
    v = row["value"]
    return int(v) if isinstance(v, float) and row.get("kind") == "int" else v


def _shape(items: list[dict[str, Any]]) -> Any:
    kind = items[-1]["kind"]
    if kind == "row":
        cols: dict[str, list[Any]] = {}
        for it in items:
            for k, v in json.loads(it["data"]).items():
                cols.setdefault(k, []).append(v)
        return cols
    if kind in ("list", "table"):
        return _value(items[-1]) if len(items) == 1 else [_value(i) for i in items]
    if kind == "image":
        paths = [json.loads(i["data"])["artifact"] for i in items]
        return paths[0] if len(paths) == 1 else paths
    values = [_value(i) for i in items]
    return values[0] if len(values) == 1 else values
