"""Published pipelines: a pipeline frozen under a name, run by name or over Prefect's REST API.

Example::

    train_pipeline.publish(ws, "train", experiment="digits")
    prun = PublishedPipeline.get(ws, "train").submit(pipeline_parameters={"lr": 0.01})
    # or: cumulus pipeline run train --param lr=0.01
    # or, over REST with the studio's token (`cumulus ui` serving; any host):
    #     POST {pub.endpoint}  {"experiment": "digits", "parameters": {"lr": 0.01}}
    # or: POST {prefect api}/deployments/<deployment_id>/create_flow_run
    #         {"parameters": {"pipeline_parameters": {"lr": 0.01}}}   (while `schedule serve` runs;
    #     the workspace's own Prefect server listens on 127.0.0.1 only)
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from cumulus.errors import NotFoundError, PipelineError
from cumulus.flows import _records as rec

if TYPE_CHECKING:
    from cumulus.experiment import Experiment
    from cumulus.flows._pipeline import Pipeline, PipelineRun
    from cumulus.workspace import Workspace


class PublishedPipelineNotFoundError(NotFoundError):
    kind = "Published pipeline"


class PublishedPipeline:
    """A pipeline published in a workspace under a name; see the module docstring."""

    def __init__(self, ws: Workspace, record: dict[str, Any]) -> None:
        self.workspace = ws
        self._record = record

    @classmethod
    def create(cls, ws: Workspace, name: str, pipeline: Pipeline, *,
               experiment: str | None = None, description: str | None = None,
               parameters: dict[str, Any] | None = None,
               exist_ok: bool = True) -> PublishedPipeline:
        """Validate ``pipeline`` against ``ws`` and publish it (replacing an older version)."""
        from cumulus.flows._prepare import prepare

        rec.check_name(name, "Published pipeline")
        key = rec.PUBLISHED_PREFIX + name
        old = rec.get_record(ws, key)
        if old is not None and not exist_ok:
            raise PipelineError(f"A pipeline is published as {name!r} already; pass "
                                "exist_ok=True to replace it.")
        prepared = prepare(pipeline, ws, parameters, pin=False)
        version = int((old or {}).get("definition", {}).get("version") or 0) + 1
        definition = {"pipeline": pipeline.name, "experiment": experiment or pipeline.name,
                      "parameters": prepared.parameters,
                      "description": description or pipeline.description,
                      "pipeline_blob": rec.save_pipeline(ws, pipeline, prepared),
                      "pipeline_ref": f"{pipeline.__module__}:{pipeline.fn.__qualname__}",
                      "version": version, "published": time.time()}
        rec.put_record(ws, key, kind="published", definition=definition,
                       state=(old or {}).get("state") or {}, enabled=True)
        rec.try_register(ws, key)
        return cls.get(ws, name)

    @classmethod
    def get(cls, ws: Workspace, name: str) -> PublishedPipeline:
        record = rec.get_record(ws, rec.PUBLISHED_PREFIX + name)
        if record is None:
            raise PublishedPipelineNotFoundError(
                name, [p.name for p in cls.list(ws)],
                hint="Publish it with pipeline.publish(ws, name) or `cumulus pipeline publish`.")
        return cls(ws, record)

    @classmethod
    def list(cls, ws: Workspace) -> list[PublishedPipeline]:
        return [cls(ws, r) for r in rec.list_records(ws) if r["kind"] == "published"]

    @property
    def name(self) -> str:
        return str(self._record["name"])[len(rec.PUBLISHED_PREFIX):]

    @property
    def definition(self) -> dict[str, Any]:
        return dict(self._record["definition"])

    @property
    def version(self) -> int:
        return int(self.definition.get("version") or 1)

    @property
    def endpoint(self) -> str:
        """Where ``cumulus ui`` takes REST triggers of this pipeline: ``POST`` with the
        studio's token (``Authorization: Bearer ...``) and ``{"experiment": ...,
        "parameters": {...}}``. The studio's address comes from ``CUMULUS_UI_URL`` (default
        ``http://127.0.0.1:8765``)."""
        from urllib.parse import quote

        from cumulus.run import portal_url

        return f"{portal_url()}api/v1/pipelines/published/{quote(self.name)}/runs"

    @property
    def deployment_id(self) -> str | None:
        return (self._record.get("state") or {}).get("deployment_id")

    def load(self) -> Pipeline:
        """The frozen pipeline object."""
        return rec.load_pipeline(self.workspace, self.definition["pipeline_blob"])

    def submit(self, experiment: Experiment | str | None = None, *,
               pipeline_parameters: dict[str, Any] | None = None,
               tags: dict[str, Any] | None = None, **options: Any) -> PipelineRun:
        """Run it now with ``pipeline_parameters`` over the published defaults."""
        from cumulus.experiment import Experiment
        from cumulus.flows._submit import submit_pipeline

        exp = experiment if isinstance(experiment, Experiment) else Experiment(
            self.workspace, experiment or self.definition["experiment"])
        params = {**(self.definition.get("parameters") or {}), **(pipeline_parameters or {})}
        return submit_pipeline(self.load(), exp, tags=tags, pipeline_parameters=params,
                               properties={"published_pipeline": self.name,
                                           "published_version": self.version}, **options)

    def delete(self) -> None:
        rec.try_unregister(self.workspace, self._record)
        rec.delete_record(self.workspace, self._record["name"])

    def __repr__(self) -> str:
        return (f"PublishedPipeline({self.name!r}, pipeline={self.definition['pipeline']!r}, "
                f"version={self.version})")
