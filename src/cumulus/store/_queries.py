"""Read models for listings (the REST API, the web app): filtered, sorted, paged runs and the
latest value of each metric, in a bounded number of queries whatever the store's size."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select

from cumulus.errors import ValidationError, allowed_list
from cumulus.store import models as m

if TYPE_CHECKING:
    from cumulus.store._store import Store

SORT_FIELDS = ("created", "started", "ended", "status", "name")
_COLUMNS = {"created": m.Run.created_at, "started": m.Run.start_time, "ended": m.Run.end_time,
            "status": m.Run.status, "name": m.Run.display_name}
LIST_FIELDS = ("id", "experiment_id", "parent_id", "kind", "display_name", "status",
               "created_at", "start_time", "end_time", "compute_target", "attempt", "params",
               "tags")


@dataclass(frozen=True)
class RunQuery:
    """Which runs, in which order: ``sort`` is a field of SORT_FIELDS or ``metric:NAME``,
    ``-`` in front for descending."""

    experiment_id: int | None = None
    status: str | None = None
    kind: str | None = None
    parent_id: str | None = None
    top_level: bool = False
    tag: tuple[str, str | None] | None = None
    sort: str = "-created"
    limit: int = 50
    offset: int = 0

    def __post_init__(self) -> None:
        key = self.sort.lstrip("-")
        if key not in SORT_FIELDS and not (key.startswith("metric:") and len(key) > 7):
            raise ValidationError(f"sort {self.sort!r} is not allowed. Allowed: "
                                  f"{allowed_list(SORT_FIELDS)} or metric:NAME, with '-' in "
                                  "front for descending.")
        if not 1 <= self.limit <= 1000 or self.offset < 0:
            raise ValidationError(f"limit must be 1..1000 and offset >= 0, got limit="
                                  f"{self.limit}, offset={self.offset}.")


def page_runs(store: Store, q: RunQuery) -> tuple[list[dict[str, Any]], int]:
    """(runs of this page, total matching) for ``q``."""
    where = []
    if q.experiment_id is not None:
        where.append(m.Run.experiment_id == q.experiment_id)
    if q.status:
        where.append(m.Run.status == q.status)
    if q.kind:
        where.append(m.Run.kind == q.kind)
    if q.parent_id:
        where.append(m.Run.parent_id == q.parent_id)
    elif q.top_level:
        where.append(m.Run.parent_id.is_(None))
    cond = and_(*where) if where else None
    base = select(m.Run)
    count = select(func.count()).select_from(m.Run)
    if cond is not None:
        base, count = base.where(cond), count.where(cond)
    desc = q.sort.startswith("-")
    key = q.sort.lstrip("-")
    if key.startswith("metric:"):
        # the run's latest value of the metric: one index seek per run (run_id, name)
        value = (select(m.Metric.value)
                 .where(m.Metric.run_id == m.Run.id, m.Metric.name == key[7:])
                 .order_by(m.Metric.id.desc()).limit(1).correlate(m.Run).scalar_subquery())
        order = [value.is_(None), value.desc() if desc else value.asc()]
    else:
        col = _COLUMNS[key]
        order = [col.desc() if desc else col.asc()]
    base = base.order_by(*order, m.Run.id.desc() if desc else m.Run.id.asc())
    with store.reading() as s:
        if q.tag is not None:  # JSON filters differ per database: filter in Python, bounded
            rows = [r for r in s.scalars(base.limit(20_000)).all() if _tagged(r.tags, q.tag)]
            total = len(rows)
            rows = rows[q.offset:q.offset + q.limit]
        else:
            total = int(s.scalar(count) or 0)
            rows = list(s.scalars(base.offset(q.offset).limit(q.limit)).all())
        return [{f: getattr(r, f) for f in LIST_FIELDS} for r in rows], total


def _tagged(tags: dict[str, Any] | None, tag: tuple[str, str | None]) -> bool:
    key, value = tag
    return tags is not None and key in tags and (value is None or str(tags[key]) == value)


def latest_metrics(store: Store, run_ids: list[str]) -> dict[str, dict[str, Any]]:
    """run id -> metric name -> its last scalar value, for many runs in one query."""
    if not run_ids:
        return {}
    last = (select(func.max(m.Metric.id)).where(m.Metric.run_id.in_(run_ids))
            .group_by(m.Metric.run_id, m.Metric.name))
    q = select(m.Metric.run_id, m.Metric.name, m.Metric.value, m.Metric.data).where(
        m.Metric.id.in_(last))
    out: dict[str, dict[str, Any]] = {r: {} for r in run_ids}
    with store.read_engine.connect() as conn:
        for run_id, name, value, data in conn.execute(q):
            out[run_id][name] = value if value is not None else data
    return out


def metric_series(store: Store, run_id: str, name: str | None = None,
                  max_points: int | None = None) -> dict[str, list[dict[str, Any]]]:
    """name -> [{step, value, time}] of a run's scalar metrics; with ``max_points`` each series
    is downsampled to about that many points (evenly, keeping the last)."""
    return metric_series_many(store, [run_id], max_points, name).get(run_id, {})


def metric_series_many(store: Store, run_ids: list[str], max_points: int | None = None,
                       name: str | None = None) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """run id -> name -> points, for many runs in one query (see :func:`metric_series`)."""
    q = select(m.Metric.run_id, m.Metric.name, m.Metric.step, m.Metric.value, m.Metric.time
               ).where(m.Metric.run_id.in_(run_ids), m.Metric.value.is_not(None))
    if name is not None:
        q = q.where(m.Metric.name == name)
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    with store.read_engine.connect() as conn:
        for run_id, metric, step, value, when in conn.execute(q.order_by(m.Metric.id)):
            out.setdefault(run_id, {}).setdefault(metric, []).append(
                {"step": step, "value": value, "time": when})
    if max_points:
        for series in out.values():
            for key, points in series.items():
                if len(points) > max_points:
                    stride = len(points) / max_points
                    picked = [points[int(i * stride)] for i in range(max_points - 1)]
                    series[key] = [*picked, points[-1]]
    return out


__all__ = ["SORT_FIELDS", "RunQuery", "latest_metrics", "metric_series", "metric_series_many",
           "page_runs"]
