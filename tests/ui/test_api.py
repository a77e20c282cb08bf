"""The REST API against a real `cumulus ui` process."""

from __future__ import annotations

import socket

import httpx
import pytest

from .conftest import Server

pytestmark = [pytest.mark.integration]


def test_runs_are_listed_filtered_sorted_and_paged(server: Server, ui_ws) -> None:  # type: ignore[no-untyped-def]
    api = server.base + "/api/v1"
    page = httpx.get(f"{api}/runs", params={"experiment": "ui-demo", "limit": 2}).json()
    assert page["total"] >= 3 and len(page["runs"]) == 2
    ids = {r.id for r in ui_ws["runs"]}
    by_metric = httpx.get(f"{api}/runs", params={"experiment": "ui-demo", "kind": "script",
                                                 "sort": "-metric:accuracy"}).json()["runs"]
    accs = [r["metrics"]["accuracy"] for r in by_metric if r["id"] in ids]
    assert accs == sorted(accs, reverse=True) and len(accs) == 2
    tagged = httpx.get(f"{api}/runs", params={"tag": "team=vision"}).json()
    assert {r["id"] for r in tagged["runs"]} >= ids
    bad = httpx.get(f"{api}/runs", params={"sort": "colour"})
    assert bad.status_code == 400 and "Allowed" in bad.json()["error"] and "metric:NAME" in \
        bad.json()["error"]
    assert httpx.get(f"{api}/runs", params={"status": "Finished"}).status_code == 400


def test_a_run_its_metrics_logs_files_and_children(server: Server, ui_ws) -> None:  # type: ignore[no-untyped-def]
    api = server.base + "/api/v1"
    run = ui_ws["runs"][0]
    detail = httpx.get(f"{api}/runs/{run.id}").json()
    assert detail["status"] == "Completed" and detail["experiment"] == "ui-demo"
    assert [e["to_status"] for e in detail["status_history"]][-1] == "Completed"
    metrics = httpx.get(f"{api}/runs/{run.id}/metrics").json()
    assert len(metrics["loss"]) == 5
    assert len(httpx.get(f"{api}/runs/{run.id}/metrics", params={"max_points": 3}).json()
               ["loss"]) == 3
    assert "trained with 0.1" in httpx.get(f"{api}/runs/{run.id}/logs").json()["text"]
    files = [f["path"] for f in httpx.get(f"{api}/runs/{run.id}/files").json()]
    assert "outputs/model.txt" in files
    assert httpx.get(f"{api}/runs/{run.id}/files/outputs/model.txt").content == b"m"
    sweep = ui_ws["sweep"]
    assert len(httpx.get(f"{api}/runs/{sweep.id}/children").json()) == 3
    trials = httpx.get(f"{api}/runs/{sweep.id}/sweep").json()
    assert len(trials["trials"]) == 3 and trials["best_run_id"]
    events = httpx.get(f"{api}/runs/{run.id}/events", timeout=10).text
    assert "event: log" in events and "event: end" in events


def test_compare_serves_many_runs_in_one_request(server: Server, ui_ws) -> None:  # type: ignore[no-untyped-def]
    api = server.base + "/api/v1"
    a, b = ui_ws["runs"]
    body = httpx.get(f"{api}/compare", params={"ids": f"{a.id},{b.id}", "max_points": 2}).json()
    assert [r["id"] for r in body["runs"]] == [a.id, b.id]
    assert all(len(r["metrics"]["loss"]) == 2 for r in body["runs"])
    missing = httpx.get(f"{api}/compare", params={"ids": f"{a.id},nope"})
    assert missing.status_code == 404 and "'nope'" in missing.json()["error"]


def test_errors_name_what_was_wrong(server: Server) -> None:
    api = server.base + "/api/v1"
    missing = httpx.get(f"{api}/runs/no-such-run")
    assert missing.status_code == 404 and "no-such-run" in missing.json()["error"]
    spec = httpx.get(f"{api}/openapi.json").json()
    assert "/api/v1/runs/{run_id}/events" in spec["paths"]


def test_mutations_need_the_token(server: Server, ui_ws) -> None:  # type: ignore[no-untyped-def]
    api = server.base + "/api/v1"
    run = ui_ws["runs"][1]
    denied = httpx.post(f"{api}/runs/{run.id}/tags", json={"reviewed": "yes"})
    assert denied.status_code == 401 and "token" in denied.json()["error"]
    ok = httpx.post(f"{api}/runs/{run.id}/tags", json={"reviewed": "yes"},
                    headers={"Authorization": f"Bearer {server.token}"})
    assert ok.status_code == 200 and ok.json()["tags"]["reviewed"] == "yes"
    bad = httpx.post(f"{api}/runs/{run.id}/tags", json={"k": {"nested": 1}},
                     headers={"Authorization": f"Bearer {server.token}"})
    assert bad.status_code == 400 and "tag values must be" in bad.json()["error"]


def test_off_loopback_every_request_needs_the_token(ui_ws) -> None:  # type: ignore[no-untyped-def]
    srv = Server(ui_ws["ws"].root, host="0.0.0.0", token="s3cret-token-123")
    try:
        api = srv.base + "/api/v1"
        assert srv.token == "s3cret-token-123"
        assert httpx.get(f"{api}/runs").status_code == 401
        assert httpx.get(f"{api}/runs", headers={"Authorization": "Bearer wrong"}
                         ).status_code == 401
        assert httpx.get(f"{api}/runs", headers={"Authorization": f"Bearer {srv.token}"}
                         ).status_code == 200
        assert httpx.get(srv.base + "/").status_code == 401   # the login page
        page = httpx.get(srv.base + f"/?token={srv.token}")
        assert page.status_code == 200 and "cumulus_token" in page.headers["set-cookie"]
    finally:
        srv.stop()


def test_a_port_in_use_is_a_clear_error(ui_ws) -> None:  # type: ignore[no-untyped-def]
    import os
    import subprocess
    import sys
    from pathlib import Path

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
        proc = subprocess.run([sys.executable, "-m", "cumulus", "ui", "--port", str(port)],
                              cwd=ui_ws["ws"].root, env=env, capture_output=True, text=True,
                              timeout=60)
    assert proc.returncode != 0
    assert f"port {port}" in proc.stderr and "--port" in proc.stderr


def test_a_published_pipeline_is_triggered_over_rest_with_the_token(server: Server, ui_ws,  # type: ignore[no-untyped-def]
                                                                    monkeypatch) -> None:
    from pathlib import Path

    from cumulus.azureml.core.authentication import InteractiveLoginAuthentication
    from cumulus.azureml.pipeline.core import PublishedPipeline as SdkPublished
    from cumulus.flows import Output, PublishedPipeline, pipeline, step

    @step
    def greet(out: Output, *, who: str = "nobody") -> None:
        Path(out, "hello.txt").write_text(f"hello {who}")

    @pipeline(name="ui-greeting")
    def greeting(who: str = "nobody"):  # type: ignore[no-untyped-def]
        greet(who=who)

    ws = ui_ws["ws"]
    greeting.publish(ws, "greeting", experiment="ui-rest")
    monkeypatch.setenv("CUMULUS_UI_URL", server.base)
    endpoint = PublishedPipeline.get(ws, "greeting").endpoint
    assert endpoint == f"{server.base}/api/v1/pipelines/published/greeting/runs"
    listed = {p["name"]: p for p in httpx.get(server.base + "/api/v1/pipelines/published").json()}
    assert listed["greeting"]["endpoint"] == endpoint          # (other tests publish too)
    body = {"ExperimentName": "ui-rest", "ParameterAssignments": {"who": "rest"}}
    assert httpx.post(endpoint, json=body).status_code == 401        # never without the token
    monkeypatch.setenv("CUMULUS_UI_TOKEN", server.token)
    sdk = SdkPublished.get(ws, "greeting")
    header = InteractiveLoginAuthentication().get_authentication_header()
    bad = httpx.post(endpoint, json={"Parameters": {}}, headers=header)
    assert bad.status_code == 400 and "unknown field 'Parameters'" in bad.json()["error"]
    missing = httpx.post(endpoint.replace("greeting", "nope"), json=body, headers=header)
    assert missing.status_code == 404 and "greeting" in missing.json()["error"]
    resp = httpx.post(sdk.endpoint, json=body, headers=header, timeout=120)   # as SDK code does
    assert resp.status_code == 200, resp.text
    from cumulus.run import Run

    prun = Run.get(ws, resp.json()["Id"])
    assert prun.wait_for_completion(timeout=240)["status"] == "Completed"
    assert ws.store.get_run(prun.id)["params"] == {"who": "rest"}
    assert prun.experiment.name == "ui-rest"


def test_quotas_show_limits_and_what_is_in_use(server: Server, ui_ws) -> None:  # type: ignore[no-untyped-def]
    from cumulus.compute import Quota

    ws = ui_ws["ws"]
    api = server.base + "/api/v1"
    Quota.set(ws, gpus=8)
    Quota.set(ws, "local", runs=3)
    try:
        quotas = httpx.get(f"{api}/quotas").json()
        assert [q["scope"] for q in quotas] == ["*", "local"]   # the workspace's first
        assert quotas[0]["limits"] == {"runs": None, "nodes": None, "gpus": 8}
        assert quotas[1]["limits"]["runs"] == 3 and "runs" in quotas[1]["text"]
    finally:
        Quota.clear(ws)
        Quota.clear(ws, "local")
    assert httpx.get(f"{api}/quotas").json() == []
