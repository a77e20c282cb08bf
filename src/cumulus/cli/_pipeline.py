"""``cumulus pipeline`` (run, publish, list, show, server) and ``cumulus schedule``.

A pipeline is named ``MODULE:ATTR`` (``pkg.pipelines:train``), ``FILE.py:ATTR``, or the name
of a published pipeline.

Examples::

    cumulus pipeline run examples/pipelines/train_pipeline.py:train_pipeline --param lr=0.05 -f
    cumulus pipeline publish examples/pipelines/train_pipeline.py:train_pipeline --name train
    cumulus pipeline run train --param lr=0.01
    cumulus pipeline rerun RUN_ID -f          # from the failed step, reusing the rest
    cumulus schedule create nightly --pipeline train --cron "0 2 * * *"
    cumulus schedule serve
    cumulus schedule backfill nightly --start 2026-11-01 --end 2026-11-08
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

import click

from cumulus.cli._common import console, parse_kv, styled_status, table, workspace


def load_pipeline_object(target: str) -> Any:
    """The Pipeline at ``MODULE:ATTR`` or ``FILE.py:ATTR``."""
    from cumulus.flows import Pipeline

    module_part, _, attr = target.rpartition(":")
    if module_part.endswith(".py") or "/" in module_part:
        path = Path(module_part).resolve()
        if not path.is_file():
            raise click.BadParameter(f"{module_part} is not a file.", param_hint="PIPELINE")
        name = path.stem
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        sys.path.insert(0, str(path.parent))
        spec.loader.exec_module(module)
    else:
        sys.path.insert(0, str(Path.cwd()))
        try:
            module = importlib.import_module(module_part)
        except ModuleNotFoundError as exc:
            raise click.BadParameter(f"cannot import {module_part!r}: {exc}",
                                     param_hint="PIPELINE") from None
    obj = getattr(module, attr, None)
    if not isinstance(obj, Pipeline):
        found = [k for k, v in vars(module).items() if isinstance(v, Pipeline)]
        raise click.BadParameter(f"{target} is not a @pipeline (found: "
                                 f"{', '.join(found) or 'none'}).", param_hint="PIPELINE")
    return obj


def _resolve(ws: Any, target: str) -> Any:
    from cumulus.flows import PublishedPipeline

    if ":" in target:
        return load_pipeline_object(target)
    return PublishedPipeline.get(ws, target)


def _params(pipeline: Any, values: tuple[str, ...]) -> dict[str, Any]:
    return pipeline.coerce_parameters(parse_kv(values, "--param"))


def _follow(prun: Any) -> None:
    """Stream the pipeline run until it ends; exit 1 unless it completed."""
    details = prun.wait_for_completion(show_output=True, raise_on_error=False)
    if details["status"] != "Completed":
        sys.exit(1)


@click.group()
def pipeline() -> None:
    """Run, publish and inspect pipelines."""


@pipeline.command("run")
@click.argument("target", metavar="PIPELINE")
@click.option("--param", "-p", "params", multiple=True, help="NAME=VALUE (repeatable).")
@click.option("--experiment", "-e", default=None, help="Experiment (default: pipeline name).")
@click.option("--regenerate-outputs", is_flag=True, help="Run every step; reuse nothing.")
@click.option("--regenerate", "regenerate", multiple=True, metavar="STEP",
              help="Run this step again even if it could be reused (repeatable).")
@click.option("--continue-on-step-failure/--stop-on-step-failure", default=None,
              help="Keep running independent steps after a failure (default: the pipeline's).")
@click.option("--tag", "tags", multiple=True, help="KEY=VALUE tag (repeatable).")
@click.option("--follow", "-f", is_flag=True, help="Stream step progress until it ends.")
def run(target: str, params: tuple[str, ...], experiment: str | None, regenerate_outputs: bool,
        regenerate: tuple[str, ...], continue_on_step_failure: bool | None,
        tags: tuple[str, ...], follow: bool) -> None:
    """Submit PIPELINE (MODULE:ATTR, FILE.py:ATTR or a published name) with parameters."""
    from cumulus.experiment import Experiment
    from cumulus.flows import PublishedPipeline
    from cumulus.run import Run

    ws = workspace()
    obj = _resolve(ws, target)
    prun: Run
    options = {"regenerate_outputs": regenerate_outputs or list(regenerate),
               "continue_on_step_failure": continue_on_step_failure}
    if isinstance(obj, PublishedPipeline):
        values = _params(obj.load(), params)
        prun = obj.submit(experiment, pipeline_parameters=values, tags=parse_kv(tags, "--tag"),
                          **options)
    else:
        exp = Experiment(ws, experiment or obj.name)
        prun = exp.submit(obj, tags=parse_kv(tags, "--tag"),
                          pipeline_parameters=_params(obj, params), **options)
    c = console()
    c.print(f"Submitted pipeline run [bold]{prun.id}[/bold] (experiment "
            f"{prun.experiment.name}). Follow it with: cumulus runs logs -f {prun.id}")
    if follow:
        _follow(prun)


@pipeline.command("rerun")
@click.argument("run_id")
@click.option("--all", "everything", is_flag=True,
              help="A plain resubmission (the usual reuse rules) instead of from the failed "
                   "step.")
@click.option("--regenerate", "regenerate", multiple=True, metavar="STEP",
              help="Run this step again although it completed (repeatable).")
@click.option("--follow", "-f", is_flag=True, help="Stream step progress until it ends.")
def rerun(run_id: str, everything: bool, regenerate: tuple[str, ...], follow: bool) -> None:
    """Rerun pipeline run RUN_ID from its failed step: its completed steps are reused as they
    are, the failed, canceled and skipped ones run (same pinned code and parameters)."""
    from cumulus.cli._common import resolve_run_id
    from cumulus.flows import PipelineRun
    from cumulus.run import Run

    ws = workspace()
    run_id = resolve_run_id(ws, run_id, kind="pipeline")
    old = Run.get(ws, run_id)
    if not isinstance(old, PipelineRun):
        raise click.BadParameter(f"run {run_id} is a {old.get_details()['kind']} run, not a "
                                 "pipeline run.", param_hint="RUN_ID")
    c = console()
    if not everything:
        for step, what in old.rerun_plan(list(regenerate)):
            c.print(f"  {step}: {what}")
    prun = old.resubmit(from_failed=not everything, regenerate_outputs=list(regenerate))
    c.print(f"Submitted pipeline run [bold]{prun.id}[/bold], a rerun of {run_id}. Follow it "
            f"with: cumulus runs logs -f {prun.id}")
    if follow:
        _follow(prun)


@pipeline.command("publish")
@click.argument("target", metavar="PIPELINE")
@click.option("--name", default=None, help="Published name (default: the pipeline's name).")
@click.option("--experiment", "-e", default=None, help="Experiment its runs go to.")
@click.option("--param", "-p", "params", multiple=True, help="Default NAME=VALUE.")
def publish(target: str, name: str | None, experiment: str | None,
            params: tuple[str, ...]) -> None:
    """Publish PIPELINE (MODULE:ATTR or FILE.py:ATTR) so it can be run by name."""
    ws = workspace()
    obj = load_pipeline_object(target)
    pub = obj.publish(ws, name, experiment=experiment, parameters=_params(obj, params))
    c = console()
    c.print(f"Published [bold]{pub.name}[/bold] version {pub.version} (pipeline "
            f"{pub.definition['pipeline']}). Run it with: cumulus pipeline run {pub.name}")
    if pub.deployment_id:
        c.print(f"Prefect deployment {pub.deployment_id}: POST /api/deployments/"
                f"{pub.deployment_id}/create_flow_run while `cumulus schedule serve` runs.")


@pipeline.command("list")
def list_published() -> None:
    """Published pipelines."""
    from cumulus.flows import PublishedPipeline

    pubs = PublishedPipeline.list(workspace())
    t = table("published pipelines", ["Name", "Pipeline", "Version", "Experiment",
                                       "Parameters", "Deployment"])
    for p in pubs:
        d = p.definition
        t.add_row(p.name, d["pipeline"], str(p.version), d["experiment"],
                  str(d.get("parameters") or {}), p.deployment_id or "-")
    c = console()
    c.print(t) if pubs else c.print("Nothing published yet: cumulus pipeline publish MODULE:ATTR")


@pipeline.command("show")
@click.argument("run_id")
def show(run_id: str) -> None:
    """Steps of a pipeline run: status, run, and why each ran or was reused."""
    from cumulus.run import Run

    r = Run._get(workspace(), run_id)
    props = r.get_properties()
    c = console()
    c.print(f"[bold]{r.id}[/bold]  {styled_status(r.get_status())}  pipeline "
            f"{props.get('pipeline', '?')}  {props.get('summary', '')}")
    if props.get("prefect_flow_run_url"):
        c.print(f"  Prefect: {props['prefect_flow_run_url']}")
    t = table("steps", ["Step", "Run", "Status", "Attempt", "Why"])
    for ch in r.get_children():
        p = ch.get_properties()
        t.add_row(ch.display_name or "-", ch.id, styled_status(ch.get_status()),
                  str(p.get("attempt", "")), str(p.get("reason", "")))
    c.print(t)


@pipeline.command("server")
@click.argument("action", type=click.Choice(["status", "start", "stop"]), default="status")
def server(action: str) -> None:
    """This installation's Prefect server (UI and scheduler), shared by its workspaces;
    `stop` stops it for all of them."""
    from cumulus.flows._server import LocalServer

    srv = LocalServer(workspace())
    c = console()
    if action == "start":
        url = srv.ensure(wait=True)
        c.print(f"Prefect server at {url} (UI: {url[:-4]})")
    elif action == "stop":
        c.print("stopped" if srv.stop() else "not running")
    else:
        alive = srv.url_if_alive()
        users = srv.users()
        c.print(f"running at {alive}, used by {len(users)} workspace(s); log {srv.log}"
                if alive else "not running")
        for folder in users:
            c.print(f"  {folder}")


@click.group()
def schedule() -> None:
    """Create, list, disable, delete and serve pipeline schedules."""


@schedule.command("create")
@click.argument("name")
@click.option("--pipeline", "target", required=True, help="MODULE:ATTR, FILE.py:ATTR or a "
              "published name.")
@click.option("--cron", default=None, help="Cron expression, e.g. '0 2 * * *'.")
@click.option("--interval", type=float, default=None, help="Every N seconds.")
@click.option("--datastore", default=None, help="Watch this datastore for changes...")
@click.option("--path", "path_on_datastore", default=None, help="...under this path.")
@click.option("--polling-interval", type=float, default=60, show_default=True)
@click.option("--timezone", default="UTC", show_default=True)
@click.option("--param", "-p", "params", multiple=True, help="NAME=VALUE (repeatable).")
@click.option("--experiment", "-e", default=None)
@click.option("--replace", is_flag=True, help="Replace a schedule of the same name.")
def create(name: str, target: str, cron: str | None, interval: float | None,
           datastore: str | None, path_on_datastore: str | None, polling_interval: float,
           timezone: str, params: tuple[str, ...], experiment: str | None,
           replace: bool) -> None:
    """Schedule a pipeline on a cron expression, an interval, or datastore changes."""
    from cumulus.flows import PublishedPipeline, Schedule

    ws = workspace()
    obj = _resolve(ws, target)
    pipe = obj.load() if isinstance(obj, PublishedPipeline) else obj
    values = {**(obj.definition.get("parameters") or {} if isinstance(
        obj, PublishedPipeline) else {}), **_params(pipe, params)}
    sched = Schedule.create(ws, name, pipeline=pipe, cron=cron, interval=interval,
                            timezone=timezone, parameters=values, datastore=datastore,
                            path_on_datastore=path_on_datastore,
                            polling_interval=polling_interval, experiment=experiment,
                            exist_ok=replace)
    console().print(f"Schedule [bold]{sched.name}[/bold]: pipeline {sched.pipeline_name}, "
                    f"{sched.describe()}. Runs start while `cumulus schedule serve` runs.")


@schedule.command("list")
def list_schedules() -> None:
    """Schedules of the workspace."""
    from cumulus.flows import Schedule

    items = Schedule.list(workspace())
    t = table("schedules", ["Name", "Pipeline", "When", "Enabled", "Next", "Parameters"])
    for s in items:
        nxt = s.next_run_times(1)
        t.add_row(s.name, s.pipeline_name, s.describe(), "yes" if s.enabled else "no",
                  nxt[0].strftime("%Y-%m-%d %H:%M:%S %Z") if nxt and s.enabled else "-",
                  str(s.parameters))
    c = console()
    c.print(t) if items else c.print("No schedules. Create one with: cumulus schedule create")


@schedule.command("backfill")
@click.argument("name")
@click.option("--start", required=True, type=click.DateTime(
    ["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]),
    help="First moment of the window (UTC unless the schedule says otherwise).")
@click.option("--end", required=True, type=click.DateTime(
    ["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]),
    help="End of the window (exclusive).")
@click.option("--yes", is_flag=True, help="Go ahead with more than 1,000 runs.")
@click.option("--dry-run", is_flag=True, help="List the due times; submit nothing.")
def backfill(name: str, start: Any, end: Any, yes: bool, dry_run: bool) -> None:
    """One run of schedule NAME's pipeline per time it was due in [--start, --end); each run
    gets its due time as the `scheduled_time` parameter when the pipeline declares one."""
    from cumulus.flows import Schedule

    sched = Schedule.get(workspace(), name)
    c = console()
    times = sched.backfill_times(start, end)
    c.print(f"Schedule {name} ({sched.describe()}) was due {len(times)} time(s) in the window"
            + (f": {times[0].isoformat()} ... {times[-1].isoformat()}" if times else "."))
    if dry_run:
        return
    runs = sched.backfill(start, end, yes=yes)
    for run in runs[:20]:
        c.print(f"  {run.get_properties()['scheduled_time']}  {run.id}")
    if len(runs) > 20:
        c.print(f"  ... and {len(runs) - 20} more")
    c.print(f"Submitted {len(runs)} pipeline run(s); see them with: cumulus runs list")


def _change(name: str, action: str) -> None:
    from cumulus.flows import Schedule

    sched = Schedule.get(workspace(), name)
    getattr(sched, action)()
    console().print(f"Schedule {name}: {action}d.")


@schedule.command("delete")
@click.argument("name")
def delete(name: str) -> None:
    """Delete a schedule (and its Prefect deployment)."""
    _change(name, "delete")


@schedule.command("disable")
@click.argument("name")
def disable(name: str) -> None:
    """Stop starting runs of a schedule."""
    _change(name, "disable")


@schedule.command("enable")
@click.argument("name")
def enable(name: str) -> None:
    """Start a disabled schedule again."""
    _change(name, "enable")


@schedule.command("serve")
@click.option("--duration", type=float, default=None, help="Stop after N seconds.")
@click.option("--poll-interval", type=float, default=1.0, show_default=True)
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="At most N flow runs at once; the rest wait, Scheduled "
                   "[default: PREFECT_RUNNER_PROCESS_LIMIT, 5].")
def serve(duration: float | None, poll_interval: float, limit: int | None) -> None:
    """Run schedules and published-pipeline triggers with Prefect's Runner.

    Starts the Prefect server if needed. Each due flow run executes in its own process; on
    Ctrl-C the runner stops and cancels the flow runs still in flight."""
    from cumulus.flows._serve import serve as serve_loop

    try:
        serve_loop(workspace(), duration=duration, poll_interval=poll_interval, limit=limit,
                   out=lambda text: click.echo(text))
    except KeyboardInterrupt:
        click.echo("stopped")
