"""The REST API of ``cumulus ui``: read models over the store, the CLI's mutations as POSTs.

Reads are open on loopback; on any other address every request needs the token (a bearer
header, the ``cumulus_token`` cookie set by opening ``/?token=...``, or ``?token=``). Mutations
need the token always. Secrets (datastore credentials, service keys) never leave the server.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, StreamingResponse

from cumulus.errors import CumulusError, NotFoundError, ValidationError

if TYPE_CHECKING:
    from cumulus.workspace import Workspace

STATIC = Path(__file__).with_name("static")
TERMINAL = ("Completed", "Failed", "Canceled")
COOKIE = "cumulus_token"


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _plain(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: _iso(v) for k, v in rec.items()}


class Security:
    def __init__(self, token: str | None, open_reads: bool) -> None:
        self.token, self.open_reads = token, open_reads

    def given(self, request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        return request.cookies.get(COOKIE) or request.query_params.get("token")

    def check(self, request: Request, write: bool) -> None:
        if not write and self.open_reads:
            return
        given = self.given(request)
        if not self.token or not given or not hmac.compare_digest(given, self.token):
            raise HTTPException(401, "a valid token is required: open the URL `cumulus ui` "
                                     "printed, or send 'Authorization: Bearer <token>'")


def create_app(ws: Workspace, *, token: str | None = None, open_reads: bool = True) -> FastAPI:
    """The API and web app over ``ws``; ``token`` guards mutations (and reads unless
    ``open_reads``)."""
    app = FastAPI(title="Cumulus", version="1", openapi_url="/api/v1/openapi.json",
                  docs_url="/api/v1/docs", redoc_url=None)
    security = Security(token, open_reads)

    def read(request: Request) -> None:
        security.check(request, write=False)

    def write(request: Request) -> None:
        security.check(request, write=True)

    api = APIRouter(prefix="/api/v1", dependencies=[Depends(read)])
    _routes(api, ws, write)
    app.include_router(api)

    @app.exception_handler(CumulusError)
    async def _cumulus_error(_request: Request, exc: CumulusError) -> JSONResponse:
        code = 404 if isinstance(exc, NotFoundError) else 400
        return JSONResponse({"error": str(exc)}, status_code=code)

    @app.exception_handler(HTTPException)
    async def _http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)

    @app.get("/", include_in_schema=False)
    def index(request: Request) -> HTMLResponse:
        given = request.query_params.get("token")
        if not security.open_reads and not (given and token and
                                            hmac.compare_digest(given, token)) and \
                not request.cookies.get(COOKIE):
            return HTMLResponse(_login_page(), status_code=401)
        resp = HTMLResponse((STATIC / "index.html").read_text())
        if given and token and hmac.compare_digest(given, token):
            resp.set_cookie(COOKIE, given, httponly=True, samesite="strict")
        return resp

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> FileResponse:
        path = (STATIC / name).resolve()
        if path.parent != STATIC.resolve() or not path.is_file():
            raise HTTPException(404, f"no static file {name!r}")
        return FileResponse(path)

    return app


def _login_page() -> str:
    return ("<!doctype html><title>Cumulus</title><form method=get action=/>"
            "<p>This Cumulus server needs its token (printed by <code>cumulus ui</code>).</p>"
            "<input name=token type=password autofocus><button>Open</button></form>")


def _routes(api: APIRouter, ws: Workspace, write: Any) -> None:
    from cumulus.store._queries import (
        RunQuery,
        latest_metrics,
        metric_series,
        metric_series_many,
        page_runs,
    )

    store = ws.store

    def run_or_404(run_id: str) -> dict[str, Any]:
        rec = store.find_run(run_id)
        if rec is None:
            raise NotFoundError(f"run {run_id!r}", hint="List runs with GET /api/v1/runs.")
        return rec

    def experiment_id(name: str | None) -> int | None:
        if name is None:
            return None
        exp = store.get_experiment(name)
        if exp is None:
            names = [e["name"] for e in store.list_experiments()]
            raise NotFoundError(f"experiment {name!r}", names)
        return int(exp["id"])

    @api.get("/workspace")
    def workspace() -> dict[str, Any]:
        return ws.get_details()

    @api.get("/experiments")
    def experiments() -> list[dict[str, Any]]:
        return [_plain(e) for e in store.list_experiments()]

    @api.get("/runs")
    def runs(experiment: str | None = None, status: str | None = None,
             kind: str | None = None, parent: str | None = None,
             tag: str | None = Query(None, description="key or key=value"),
             sort: str = "-created", limit: int = 50, offset: int = 0,
             include_children: bool = False) -> dict[str, Any]:
        if status is not None:
            from cumulus.store.status import RunStatus

            status = RunStatus.parse(status).value
        tag_filter = None
        if tag:
            key, sep, value = tag.partition("=")
            tag_filter = (key, value if sep else None)
        q = RunQuery(experiment_id=experiment_id(experiment), status=status, kind=kind,
                     parent_id=parent, top_level=not include_children and not parent,
                     tag=tag_filter, sort=sort, limit=limit, offset=offset)
        rows, total = page_runs(store, q)
        metrics = latest_metrics(store, [r["id"] for r in rows])
        names = {e["id"]: e["name"] for e in store.list_experiments()}
        return {"total": total, "offset": offset, "limit": limit,
                "runs": [{**_plain(r), "experiment": names.get(r["experiment_id"]),
                          "metrics": metrics.get(r["id"], {})} for r in rows]}

    @api.get("/compare")
    def compare(ids: str = Query(..., description="comma-separated run ids (at most 500)"),
                max_points: int = Query(200, ge=2, le=10_000)) -> dict[str, Any]:
        """Many runs side by side in one request: params, tags, latest metrics and every
        scalar series (downsampled to ``max_points``)."""
        wanted = [i for i in ids.split(",") if i][:500]
        found = {r["id"]: r for r in store.runs_by_ids(wanted)}
        missing = [i for i in wanted if i not in found]
        if missing:
            raise NotFoundError(f"run(s) {', '.join(map(repr, missing[:5]))}")
        series = metric_series_many(store, wanted, max_points)
        return {"runs": [{"id": i, "display_name": found[i]["display_name"],
                          "status": found[i]["status"], "params": found[i]["params"],
                          "tags": found[i]["tags"], "metrics": series.get(i, {})}
                         for i in wanted]}

    @api.get("/runs/{run_id}")
    def run(run_id: str) -> dict[str, Any]:
        rec = run_or_404(run_id)
        events = [_plain(e) for e in store.status_events(run_id)]
        return {**_plain(rec), "experiment": store.experiment_name(rec["experiment_id"]),
                "status_history": events}

    @api.get("/runs/{run_id}/metrics")
    def metrics(run_id: str, name: str | None = None,
                max_points: int | None = Query(None, ge=2, le=100_000)) -> dict[str, Any]:
        run_or_404(run_id)
        return metric_series(store, run_id, name, max_points)

    @api.get("/runs/{run_id}/logs")
    def logs(run_id: str, after: int = 0) -> dict[str, Any]:
        run_or_404(run_id)
        text, cursor = store.read_log(run_id, after)
        return {"text": text, "cursor": cursor}

    @api.get("/runs/{run_id}/events")
    async def events(run_id: str, request: Request) -> StreamingResponse:
        """Server-Sent Events: ``log`` chunks, ``metrics`` points and ``status`` changes of a
        run as they are written, then ``end``."""
        run_or_404(run_id)
        return StreamingResponse(_follow(store, run_id, request),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    @api.get("/runs/{run_id}/files")
    def files(run_id: str) -> list[dict[str, Any]]:
        run_or_404(run_id)
        return [_plain({k: v for k, v in a.items() if k != "location"})
                for a in store.list_artifacts(run_id)]

    @api.get("/runs/{run_id}/files/{path:path}")
    def file(run_id: str, path: str) -> StreamingResponse:
        from cumulus.datastores import Datastore

        run_or_404(run_id)
        found = [a for a in store.list_artifacts(run_id, prefix=path) if a["path"] == path]
        if not found:
            raise NotFoundError(f"file {path!r} of run {run_id}",
                                [a["path"] for a in store.list_artifacts(run_id)])
        ds = Datastore.get(ws, found[0]["datastore"])
        fh = ds.fs.open(ds.full_path(found[0]["location"]), "rb")
        name = Path(path).name
        return StreamingResponse(iter(lambda: fh.read(1 << 16), b""),
                                 media_type="application/octet-stream",
                                 headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @api.get("/runs/{run_id}/children")
    def children(run_id: str) -> list[dict[str, Any]]:
        run_or_404(run_id)
        kids = store.children(run_id)
        metrics = latest_metrics(store, [c["id"] for c in kids])
        return [{**_plain({k: v for k, v in c.items() if k != "definition"}),
                 "metrics": metrics.get(c["id"], {})} for c in kids]

    @api.get("/runs/{run_id}/sweep")
    def sweep(run_id: str) -> dict[str, Any]:
        from cumulus.sweeps import SweepRun

        rec = run_or_404(run_id)
        if (rec.get("definition") or {}).get("type") != "sweep":
            raise ValidationError(f"run {run_id!r} is not a sweep (kind {rec['kind']}).")
        srun = SweepRun.get(ws, run_id)
        best = srun.get_properties().get("best_run_id")
        return {"primary_metric_name": srun.primary_metric_name,
                "primary_metric_goal": srun.primary_metric_goal, "best_run_id": best,
                "progress": srun.get_progress(),
                "trials": [t.to_dict() for t in srun.get_trials()]}

    @api.get("/runs/{run_id}/pipeline")
    def pipeline(run_id: str) -> dict[str, Any]:
        rec = run_or_404(run_id)
        graph = (rec.get("definition") or {}).get("graph")
        if not graph:
            raise ValidationError(f"run {run_id!r} is not a pipeline run (kind {rec['kind']}).")
        return {"steps": _steps(graph, store.children(run_id))}

    @api.get("/compute")
    def compute() -> list[dict[str, Any]]:
        from cumulus.compute import list_targets

        out = []
        for name, target in list_targets(ws).items():
            status = target.get_status()
            out.append({"name": name, "backend": status.backend, **status.serialize(),
                        "queued_runs": status.queued_runs, "running_runs": status.running_runs})
        return out

    @api.get("/quotas")
    def quotas() -> list[dict[str, Any]]:
        """Every quota (the workspace's ``*`` first) with its limits and what is in use now
        (``used`` is null for a target whose manager is not running)."""
        from cumulus.compute import Quota

        return [{"scope": q.scope, "limits": q.limits.to_dict(),
                 "used": None if q.used is None else asdict(q.used), "text": q.describe()}
                for q in Quota.list(ws)]

    @api.get("/compute/{name}/history")
    def compute_history(name: str, since: float = 0.0) -> list[dict[str, Any]]:
        from cumulus.compute import ComputeTarget

        return ComputeTarget(ws, name).get_history(since=since)

    @api.get("/models")
    def models() -> list[dict[str, Any]]:
        from cumulus.models import Model

        return [m.to_dict() for m in Model.list(ws)]

    @api.get("/services")
    def services() -> list[dict[str, Any]]:
        from cumulus.models import Webservice

        return [{"name": s.name, "kind": s.kind, "state": s.state, "scoring_uri": s.scoring_uri,
                 "models": [m.id for m in s.models]} for s in Webservice.list(ws)]

    @api.post("/runs/{run_id}/cancel", dependencies=[Depends(write)])
    def cancel(run_id: str) -> dict[str, Any]:
        from cumulus.run import Run

        run_or_404(run_id)
        return {"status": Run.get(ws, run_id).cancel(reason="canceled from cumulus ui")}

    @api.post("/runs/{run_id}/tags", dependencies=[Depends(write)])
    def tag(run_id: str, tags: dict[str, Any]) -> dict[str, Any]:
        from cumulus.run import Run

        run_or_404(run_id)
        r = Run.get(ws, run_id)
        r.set_tags(tags)
        return {"tags": r.get_tags()}

    @api.get("/pipelines/published")
    def published(request: Request) -> list[dict[str, Any]]:
        from urllib.parse import quote

        from cumulus.flows import PublishedPipeline

        base = str(request.base_url).rstrip("/")      # this server, as the caller reached it
        return [{"name": p.name, "version": p.version, "pipeline": p.definition["pipeline"],
                 "experiment": p.definition["experiment"],
                 "endpoint": f"{base}/api/v1/pipelines/published/{quote(p.name)}/runs",
                 "parameters": p.definition.get("parameters") or {}}
                for p in PublishedPipeline.list(ws)]

    @api.post("/pipelines/published/{name}/runs", dependencies=[Depends(write)])
    def trigger(name: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run a published pipeline (always needs the token). Takes ``experiment``,
        ``parameters`` and ``tags``, or the managed service's ``ExperimentName`` and
        ``ParameterAssignments``."""
        from cumulus.flows import PublishedPipeline

        spec = _trigger_spec(body or {})
        prun = PublishedPipeline.get(ws, name).submit(
            spec["experiment"], pipeline_parameters=spec["parameters"], tags=spec["tags"])
        return {"id": prun.id, "Id": prun.id, "status": prun.get_status(),
                "experiment": prun.experiment.name, "url": f"/#/runs/{prun.id}"}

    @api.post("/compute/{name}", dependencies=[Depends(write)])
    def update_compute(name: str, settings: dict[str, Any]) -> dict[str, Any]:
        from cumulus.compute import ComputeTarget

        allowed = ("min_nodes", "max_nodes", "idle_seconds_before_scaledown")
        unknown = set(settings) - set(allowed)
        if unknown:
            raise ValidationError(f"unknown settings {sorted(unknown)}; allowed: "
                                  f"{', '.join(allowed)}.")
        cfg = ComputeTarget(ws, name).update(**settings)
        return cfg.scale_settings()


_TRIGGER_KEYS = {"experiment": "experiment", "ExperimentName": "experiment",
                 "parameters": "parameters", "ParameterAssignments": "parameters",
                 "tags": "tags", "Tags": "tags"}


def _trigger_spec(body: dict[str, Any]) -> dict[str, Any]:
    """A published-pipeline trigger's body, checked: unknown keys and wrong types refused."""
    spec: dict[str, Any] = {"experiment": None, "parameters": {}, "tags": {}}
    for key, value in body.items():
        if key not in _TRIGGER_KEYS:
            raise ValidationError(f"unknown field {key!r} in the trigger body; allowed: "
                                  f"{', '.join(_TRIGGER_KEYS)}.")
        field = _TRIGGER_KEYS[key]
        wanted = str if field == "experiment" else dict
        if value is not None and not isinstance(value, wanted):
            raise ValidationError(f"{key} must be a {'string' if wanted is str else 'JSON object'}"
                                  f", got {type(value).__name__}.")
        if value is not None:
            spec[field] = value
    return spec


def _steps(graph: dict[str, Any], children: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each step of a pipeline run with its upstream steps, latest run, status and reason."""
    producer = {spec["handle"]: name for name, node in graph["nodes"].items()
                for spec in node.get("outputs", {}).values()}
    latest: dict[str, dict[str, Any]] = {}
    for c in children:
        step = (c.get("properties") or {}).get("step")
        if step:
            latest[step] = c
    out = []
    for name, node in graph["nodes"].items():
        ups = {producer[s["handle"]] for s in node.get("inputs", {}).values()
               if s.get("kind") == "output" and s.get("handle") in producer}
        ups |= {a for a in node.get("after", []) if a in graph["nodes"]}
        run = latest.get(name)
        props = (run or {}).get("properties") or {}
        out.append({"name": name, "upstream": sorted(ups),
                    "run_id": run["id"] if run else None,
                    "status": run["status"] if run else "NotStarted",
                    "reason": props.get("reason"), "reused_run": props.get("reused_run")})
    return out


async def _follow(store: Any, run_id: str, request: Request) -> Any:
    """SSE generator: new log text, metric points and status until the run ends."""
    cursor = metric_id = 0
    status = None
    while True:
        text, cursor = await asyncio.to_thread(store.read_log, run_id, cursor)
        if text:
            yield f"event: log\ndata: {json.dumps(text)}\n\n"
        rows = await asyncio.to_thread(store.get_metric_rows, [run_id], None, metric_id)
        if rows:
            metric_id = rows[-1]["id"]
            points = [{"name": r["name"], "step": r["step"], "value": r["value"],
                       "time": r["time"]} for r in rows if r["value"] is not None]
            yield f"event: metrics\ndata: {json.dumps(points)}\n\n"
        now = await asyncio.to_thread(store.get_status, run_id)
        if now != status:
            status = now
            yield f"event: status\ndata: {json.dumps(now)}\n\n"
        if now in TERMINAL or await request.is_disconnected():
            yield "event: end\ndata: {}\n\n"
            return
        await asyncio.sleep(0.25)


