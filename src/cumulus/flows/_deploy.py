"""A deploy step for pipelines: register a training step's model output and deploy it.

The step runs on a node like any function step; it registers the model folder it receives
(linked to the step run) and deploys a local scoring service, or updates the existing one in
place (no failed request during the swap).

Example::

    @pipeline(name="train-and-deploy")
    def train_and_deploy(C: float = 1.0):
        model = train(data=prep(raw=ds.path("digits")), C=C)
        deploy_model(model=model, service_name="digits-svc", entry_script="score.py",
                     source_directory="/abs/path/to/src")
"""

from __future__ import annotations

import os
from typing import Any

from cumulus.flows._io import Input
from cumulus.flows._step import step


@step(name="deploy", allow_reuse=False)
def deploy_model(model: Input, *, service_name: str, entry_script: str,
                 source_directory: str, model_name: str = "", port: int = 0,
                 auth_enabled: bool = True) -> dict[str, Any]:
    """Register ``model`` (a step output) and deploy or update ``service_name``."""
    from cumulus import Run, Workspace
    from cumulus.errors import ServiceNotFoundError
    from cumulus.models import InferenceConfig, LocalWebservice, Model, Webservice

    ws = Workspace.from_config(os.environ["CUMULUS_WORKSPACE"])
    run = Run.get_context()
    registered = Model.register(ws, model_path=str(model), model_name=model_name or service_name,
                                properties={"pipeline_step_run": run.id})
    config = InferenceConfig(entry_script=entry_script, source_directory=source_directory)
    try:
        service = Webservice(ws, service_name)
    except ServiceNotFoundError:
        service = None
    if service is not None:
        service.update(models=[registered], inference_config=config)
        action = "updated"
    else:
        service = Model.deploy(ws, service_name, [registered], config,
                               LocalWebservice.deploy_configuration(
                                   port=port or None, auth_enabled=auth_enabled))
        action = "deployed"
    service.wait_for_deployment(show_output=True)
    run.log("model_version", registered.version)
    run.add_properties({"service": service_name, "scoring_uri": service.scoring_uri,
                        "model": f"{registered.name}:{registered.version}", "action": action})
    print(f"{action} {service_name} with model {registered.name}:{registered.version} at "
          f"{service.scoring_uri}", flush=True)
    return {"model": f"{registered.name}:{registered.version}", "action": action,
            "scoring_uri": service.scoring_uri}
