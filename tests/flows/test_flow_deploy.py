"""The deploy step: a pipeline trains a model, registers it and deploys or updates a service."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from flow_helpers import put_text, unique

from cumulus import Experiment, Run
from cumulus.datastores import DataPath
from cumulus.flows import Input, Output, deploy_model, pipeline, step
from cumulus.models import Model, Webservice

pytestmark = pytest.mark.integration

SCORE = """
import json, os
factor = None
def init():
    global factor
    folder = os.environ["CUMULUS_MODEL_DIR"]
    path = next(os.path.join(d, f) for d, _, fs in os.walk(folder) for f in fs
                if f == "model.json")
    factor = json.load(open(path))["factor"]
def run(raw):
    data = json.loads(raw) if isinstance(raw, (str, bytes)) else raw
    return {"result": [x * factor for x in data["data"]]}
"""


@step
def fit(data: Input, model: Output, *, factor: float = 2.0) -> float:
    count = len(Path(data).read_text().split())
    Path(model, "model.json").write_text(json.dumps({"factor": factor, "rows": count}))
    Run.get_context().log("factor", factor)
    return factor


def _pipeline(raw: str, src: str, service: str) -> Any:
    @pipeline(name="fit-and-deploy")
    def fit_and_deploy(factor: float = 2.0):  # type: ignore[no-untyped-def]
        model = fit(data=DataPath("workspacestore", raw), factor=factor)
        deploy_model(model=model, service_name=service, entry_script="score.py",
                     source_directory=src, model_name=service)
    return fit_and_deploy


def test_deploy_step_deploys_then_updates(workspace: Any, prefect_api: str,
                                          tmp_path: Path) -> None:
    raw = f"deploy/{unique('raw')}.txt"
    put_text(workspace.get_default_datastore(), raw, "1 2 3\n")
    src = tmp_path / "src"
    src.mkdir()
    (src / "score.py").write_text(SCORE)
    service = unique("svc")
    flow = _pipeline(raw, str(src), service)
    exp = Experiment(workspace, "flows-deploy")
    try:
        first = exp.submit(flow, pipeline_parameters={"factor": 2.0})
        first.wait_for_completion(show_output=False, timeout=300)
        svc = Webservice(workspace, service)
        key = svc.get_keys()[0]
        reply = httpx.post(svc.scoring_uri, json={"data": [1, 2]},
                           headers={"Authorization": f"Bearer {key}"}, timeout=30)
        assert reply.json() == {"result": [2.0, 4.0]}
        second = exp.submit(flow, pipeline_parameters={"factor": 3.0})
        second.wait_for_completion(show_output=False, timeout=300)
        reply = httpx.post(svc.scoring_uri, json={"data": [1, 2]},
                           headers={"Authorization": f"Bearer {key}"}, timeout=30)
        assert reply.json() == {"result": [3.0, 6.0]}
        versions = sorted(m.version for m in Model.list(workspace, name=service))
        assert versions == [1, 2]
        deploy_runs = [r for r in second.get_children() if r.display_name == "deploy"]
        assert deploy_runs and deploy_runs[-1].get_properties()["action"] == "updated"
    finally:
        try:
            Webservice(workspace, service).delete()
        except Exception:
            pass
