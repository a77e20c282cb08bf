"""The REST API's queries on PostgreSQL (listing, metric sort, comparison, series), on runs
recorded directly in the store: no compute needed."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import pytest

from .conftest import Server

pytestmark = [pytest.mark.integration]


def test_api_on_a_postgresql_store(pg_url: str, tmp_path: Path) -> None:
    from cumulus import Workspace

    ws = Workspace.create("ui-pg", path=tmp_path, store=pg_url)
    store = ws.store
    exp_name = f"pg-{uuid.uuid4().hex[:6]}"
    exp = store.get_or_create_experiment(exp_name)["id"]
    ids = []
    for i in range(12):
        rid = f"{exp_name}_{i:02d}"
        store.create_run(run_id=rid, experiment_id=exp, status="Completed",
                         params={"--lr": i / 10}, tags={"even": str(i % 2 == 0)},
                         display_name="train.py")
        store.insert_metrics([{"run_id": rid, "name": "acc", "kind": "scalar", "step": s,
                               "value": (i * 3 % 7) / 10 + s / 100, "data": None,
                               "time": time.time()} for s in range(10)])
        ids.append(rid)
    srv = Server(tmp_path)
    try:
        api = srv.base + "/api/v1"
        page = httpx.get(f"{api}/runs", params={"experiment": exp_name, "limit": 5,
                                                "sort": "-metric:acc"}).json()
        assert page["total"] == 12 and len(page["runs"]) == 5
        accs = [r["metrics"]["acc"] for r in page["runs"]]
        assert accs == sorted(accs, reverse=True)
        second = httpx.get(f"{api}/runs", params={"experiment": exp_name, "limit": 5,
                                                  "offset": 5, "sort": "-metric:acc"}).json()
        assert not {r["id"] for r in page["runs"]} & {r["id"] for r in second["runs"]}
        even = httpx.get(f"{api}/runs", params={"experiment": exp_name, "tag": "even=True"})
        assert even.json()["total"] == 6
        series = httpx.get(f"{api}/runs/{ids[3]}/metrics", params={"max_points": 4}).json()
        assert len(series["acc"]) == 4 and series["acc"][-1]["step"] == 9
        body = httpx.get(f"{api}/compare", params={"ids": ",".join(ids[:3])}).json()
        assert [len(r["metrics"]["acc"]) for r in body["runs"]] == [10, 10, 10]
    finally:
        srv.stop()
