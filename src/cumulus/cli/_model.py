"""``cumulus model``: register, list, show, download, deploy and inspect models and services.

Examples::

    cumulus model register digits outputs/model.pkl --tag algo=svm
    cumulus model register digits outputs/model.pkl --run digits_1700000000_ab12
    cumulus model list --name digits
    cumulus model deploy digits-svc --model digits:2 --entry-script score.py --source-dir src
    cumulus model services
    cumulus model logs digits-svc -n 50
    cumulus model delete --service digits-svc
    cumulus model delete digits:1
"""

from __future__ import annotations

import json
from typing import Any

import click

from cumulus.cli._common import console, fmt_time, parse_kv, table, workspace


@click.group()
def model() -> None:
    """Register, deploy and inspect models."""


def _split_id(model_id: str, version: int | None) -> tuple[str, int | None]:
    name, sep, ver = model_id.partition(":")
    if sep:
        if not ver.isdigit():
            raise click.BadParameter(f"{model_id!r}: write NAME or NAME:VERSION, e.g. digits:2",
                                     param_hint="MODEL")
        if version is not None and version != int(ver):
            raise click.BadParameter(f"{model_id!r} and --version {version} disagree")
        return name, int(ver)
    return name, version


def _get_model(ws: Any, model_id: str, version: int | None = None) -> Any:
    from cumulus.models import Model

    name, ver = _split_id(model_id, version)
    return Model(ws, name, ver)


@model.command("register")
@click.argument("name")
@click.argument("path")
@click.option("--run", "run_id", help="Register a file or folder this run produced.")
@click.option("--tag", "tags", multiple=True, help="KEY=VALUE (repeatable).")
@click.option("--property", "properties", multiple=True, help="KEY=VALUE (repeatable).")
@click.option("--description", help="Free text.")
def register(name: str, path: str, run_id: str | None, tags: tuple[str, ...],
             properties: tuple[str, ...], description: str | None) -> None:
    """Register PATH (a local file/folder, datastore://NAME/PATH, or a run file) as NAME."""
    from cumulus.models import Model

    ws = workspace()
    kwargs: dict[str, Any] = {"tags": parse_kv(tags, "--tag"),
                              "properties": parse_kv(properties, "--property"),
                              "description": description}
    if run_id:
        from cumulus.run import Run

        mdl = Run._get(ws, run_id).register_model(name, path, **kwargs)
    else:
        mdl = Model.register(ws, model_path=path, model_name=name, **kwargs)
    console().print(f"Registered [bold]{mdl.id}[/bold] ({mdl.properties.get('files')} file(s), "
                    f"{mdl.properties.get('bytes')} bytes)")


@model.command("list")
@click.option("--name", help="Only versions of this model.")
@click.option("--tag", "tags", multiple=True, help="KEY=VALUE or KEY (repeatable).")
@click.option("--run", "run_id", help="Only models registered from this run.")
@click.option("--latest", is_flag=True, help="Only the newest version of each model.")
def list_models(name: str | None, tags: tuple[str, ...], run_id: str | None,
                latest: bool) -> None:
    """List registered model versions, newest first."""
    from cumulus.models import Model

    want: dict[str, Any] = {}
    for t in tags:
        key, sep, value = t.partition("=")
        want[key] = value if sep else None
    rows = Model.list(workspace(), name=name, tags=want or None, run_id=run_id, latest=latest)
    t = table(None, ["name", "version", "run", "tags", "size", "created"])
    for mdl in rows:
        t.add_row(mdl.name, str(mdl.version), mdl.run_id or "-",
                  ", ".join(f"{k}={v}" for k, v in mdl.tags.items()) or "-",
                  str(mdl.properties.get("bytes", "-")), fmt_time(mdl.created_time))
    console().print(t)


@model.command("show")
@click.argument("model_id", metavar="NAME[:VERSION]")
@click.option("--version", type=int, help="Version (default: the latest).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(model_id: str, version: int | None, as_json: bool) -> None:
    """Show one model version, its run and the services using it."""
    from cumulus.models._registry import services_using

    ws = workspace()
    mdl = _get_model(ws, model_id, version)
    doc = {**mdl.to_dict(), "services": services_using(ws, mdl.name, mdl.version)}
    if as_json:
        click.echo(json.dumps(doc, indent=2, default=str))
        return
    out = console()
    for key, value in doc.items():
        out.print(f"[bold]{key}[/bold]: {value}")


@model.command("download")
@click.argument("model_id", metavar="NAME[:VERSION]")
@click.option("--version", type=int, help="Version (default: the latest).")
@click.option("-o", "--output", "target", default=".", show_default=True,
              help="Folder to download into.")
@click.option("--exist-ok", is_flag=True, help="Replace files that exist.")
def download(model_id: str, version: int | None, target: str, exist_ok: bool) -> None:
    """Download a model version's file or folder."""
    path = _get_model(workspace(), model_id, version).download(target, exist_ok=exist_ok)
    console().print(f"Downloaded to {path}")


@model.command("deploy")
@click.argument("service")
@click.option("--model", "model_ids", multiple=True, required=True,
              help="NAME or NAME:VERSION (repeatable).")
@click.option("--entry-script", required=True, help="Script with init() and run(raw_data).")
@click.option("--source-dir", default=".", show_default=True, help="Folder of the script.")
@click.option("--port", type=int, help="Port (default: a free one).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--no-auth", is_flag=True, help="Serve without keys.")
@click.option("--max-request-bytes", type=int, default=1024 * 1024, show_default=True)
@click.option("--timeout", "scoring_timeout", type=float, default=60.0, show_default=True,
              help="Seconds run() may take.")
@click.option("--docker", is_flag=True, help="Build an image and run it as a container.")
@click.option("--base-image", default="cumulus-python:3.11", show_default=True)
@click.option("--docker-url", help="Docker engine (default: DOCKER_HOST).")
@click.option("--update", "update_existing", is_flag=True,
              help="Update the service if it exists (no failed request for local services).")
@click.option("--overwrite", is_flag=True, help="Replace the service if it exists.")
@click.option("--no-wait", is_flag=True, help="Return without waiting for Healthy.")
def deploy(service: str, model_ids: tuple[str, ...], entry_script: str, source_dir: str,
           port: int | None, host: str, no_auth: bool, max_request_bytes: int,
           scoring_timeout: float, docker: bool, base_image: str, docker_url: str | None,
           update_existing: bool, overwrite: bool, no_wait: bool) -> None:
    """Deploy models as scoring service SERVICE (or update it with --update)."""
    from cumulus.errors import ServiceNotFoundError
    from cumulus.models import (
        DockerWebservice,
        InferenceConfig,
        LocalWebservice,
        Model,
        Webservice,
    )

    ws = workspace()
    models = [_get_model(ws, m) for m in model_ids]
    ic = InferenceConfig(entry_script=entry_script, source_directory=source_dir)
    common: dict[str, Any] = {"port": port, "auth_enabled": not no_auth, "host": host,
                              "max_request_bytes": max_request_bytes,
                              "scoring_timeout_seconds": scoring_timeout}
    dc = (DockerWebservice.deploy_configuration(base_image=base_image, docker_url=docker_url,
                                                **common)
          if docker else LocalWebservice.deploy_configuration(**common))
    svc = None
    if update_existing:
        try:
            svc = Webservice(ws, service)
            svc.update(models=models, inference_config=ic)
        except ServiceNotFoundError:
            svc = None
    if svc is None:
        svc = Model.deploy(ws, service, models, ic, dc, overwrite=overwrite)
    if not no_wait:
        svc.wait_for_deployment(show_output=False)
    out = console()
    out.print(f"Service [bold]{service}[/bold] ({svc.kind}, revision {svc.revision}): "
              f"{svc.state}")
    out.print(f"scoring uri: {svc.scoring_uri}\nswagger uri: {svc.swagger_uri}")
    if svc.auth_enabled:
        out.print(f"keys: cumulus model keys {service}")


@model.command("services")
@click.option("--model", "model_name", help="Only services serving this model.")
def services(model_name: str | None) -> None:
    """List scoring services with their state, models and URI."""
    from cumulus.models import Webservice

    t = table(None, ["name", "kind", "state", "models", "revision", "scoring uri"])
    for svc in Webservice.list(workspace(), model_name=model_name):
        t.add_row(svc.name, svc.kind, svc.state, ", ".join(
            f"{r['name']}:{r['version']}" for r in svc._record["models"]),
            str(svc.revision), svc.scoring_uri)
    console().print(t)


@model.command("logs")
@click.argument("service")
@click.option("-n", "--lines", default=200, show_default=True, help="Last N lines.")
def logs(service: str, lines: int) -> None:
    """Print a service's log."""
    from cumulus.models import Webservice

    click.echo(Webservice(workspace(), service).get_logs(lines), nl=False)


@model.command("keys")
@click.argument("service")
@click.option("--regen", type=click.Choice(["primary", "secondary"], case_sensitive=False),
              help="Replace this key first (the old one stops working).")
def keys(service: str, regen: str | None) -> None:
    """Print a service's primary and secondary keys (only where it was deployed from)."""
    from cumulus.models import Webservice

    svc = Webservice(workspace(), service)
    if regen:
        svc.regen_key(regen)
    primary, secondary = svc.get_keys()
    click.echo(f"primary: {primary}\nsecondary: {secondary}")


@model.command("delete")
@click.argument("model_id", metavar="[NAME:VERSION]", required=False)
@click.option("--service", help="Delete this scoring service instead of a model version.")
def delete(model_id: str | None, service: str | None) -> None:
    """Delete a model version (refused while a service uses it), or --service NAME."""
    if bool(model_id) == bool(service):
        raise click.UsageError("Give a model as NAME:VERSION, or --service NAME (not both).")
    ws = workspace()
    if service:
        from cumulus.models import Webservice

        Webservice(ws, service).delete()
        console().print(f"Deleted service {service}")
        return
    assert model_id is not None
    name, version = _split_id(model_id, None)
    if version is None:
        raise click.BadParameter(f"{model_id!r}: name the version to delete, e.g. {name}:1",
                                 param_hint="NAME:VERSION")
    mdl = _get_model(ws, name, version)
    mdl.delete()
    console().print(f"Deleted model {mdl.id}")


@model.command("batch-score")
@click.argument("model_id", metavar="NAME[:VERSION]")
@click.option("--input", "input_path", required=True, metavar="DATASTORE:PATH",
              help="A folder of CSV files (feature rows, no header) on a datastore.")
@click.option("--output", "output_path", required=True, metavar="DATASTORE:PATH",
              help="Where parallel_run_step.txt goes (one line per input row).")
@click.option("--mini-batch-size", default="10", show_default=True, help="Files, or a size.")
@click.option("--nodes", default=1, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--error-threshold", default=-1, show_default=True, type=int)
@click.option("--compute", "compute_target", default=None, help="Compute target.")
@click.option("--follow", is_flag=True, help="Stream the job's progress until it ends.")
def batch_score(model_id: str, input_path: str, output_path: str, mini_batch_size: str,
                nodes: int, error_threshold: int, compute_target: str | None,
                follow: bool) -> None:
    """Score every CSV file under --input with a registered model, in mini-batches."""
    from cumulus.batch._model import score_model

    ws = workspace()
    name, version = _split_id(model_id, None)
    prun = score_model(ws, name, _datapath(ws, input_path, "--input"),
                       _datapath(ws, output_path, "--output"), version=version,
                       mini_batch_size=mini_batch_size, node_count=nodes,
                       error_threshold=error_threshold, compute_target=compute_target)
    click.echo(f"batch scoring run {prun.id}")
    if follow:
        prun.wait_for_completion(show_output=True)


def _datapath(ws: Any, value: str, option: str) -> Any:
    from cumulus.datastores import Datastore

    store, sep, path = value.partition(":")
    if not sep or not store or not path:
        raise click.BadParameter(f"{value!r}: give DATASTORE:PATH, e.g. workspacestore:incoming",
                                 param_hint=option)
    return Datastore.get(ws, store).path(path)
