"""``cumulus runs list|show|logs|metrics|download|cancel``."""

from __future__ import annotations

import json
import sys

import click

from cumulus.cli._common import (
    console,
    fmt_duration,
    fmt_time,
    styled_status,
    table,
    workspace,
)


def _run(run_id: str):
    """The run RUN_ID (``latest``: the newest top-level run)."""
    from cumulus.cli._common import resolve_run_id
    from cumulus.run import Run

    ws = workspace()
    return Run._get(ws, resolve_run_id(ws, run_id))


@click.group()
def runs() -> None:
    """List, inspect, follow and cancel runs (RUN_ID may be `latest`: the newest top-level
    run)."""


@runs.command("list")
@click.option("--experiment", "-e", default=None, help="Only this experiment.")
@click.option("--status", default=None, help="Only runs in this status.")
@click.option("--limit", "-n", default=20, show_default=True, type=click.IntRange(min=1),
              help="How many runs to show (>= 1).")
@click.option("--all", "include_children", is_flag=True, help="Include child runs.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_runs(experiment: str | None, status: str | None, limit: int, include_children: bool,
              as_json: bool) -> None:
    """The newest runs first."""
    ws = workspace()
    store = ws.store
    exp_id = None
    names = {e["id"]: e["name"] for e in store.list_experiments()}
    if experiment:
        rec = store.get_experiment(experiment)
        if rec is None:
            from cumulus.errors import ExperimentNotFoundError

            raise ExperimentNotFoundError(experiment, list(names.values()))
        exp_id = rec["id"]
    rows = store.list_runs(experiment_id=exp_id, status=status, limit=limit,
                           top_level=not include_children)
    if as_json:
        click.echo(json.dumps([{"id": r["id"], "experiment": names.get(r["experiment_id"]),
                                "status": r["status"], "kind": r["kind"],
                                "created": fmt_time(r["created_at"])} for r in rows]))
        return
    t = table(None, ["Run", "Experiment", "Kind", "Status", "Target", "Created", "Duration"])
    for r in rows:
        t.add_row(r["id"], names.get(r["experiment_id"], "?"), r["kind"],
                  styled_status(r["status"]), r["compute_target"] or "-",
                  fmt_time(r["created_at"]), fmt_duration(r["start_time"], r["end_time"]))
    c = console()
    c.print(t) if rows else c.print("No runs yet. Submit one with: cumulus run SCRIPT")


@runs.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True)
def show(run_id: str, as_json: bool) -> None:
    """Details, status history, files and children of a run."""
    r = _run(run_id)
    d = r.get_details()
    if as_json:
        click.echo(json.dumps(d, default=str, indent=2))
        return
    c = console()
    c.print(f"[bold]{d['runId']}[/bold]  {styled_status(d['status'])}  ({d['kind']}, "
            f"experiment {d['experiment']}, target {d['target']})")
    for key in ("displayName", "parentRunId", "script", "arguments", "exitCode", "attempt",
                "node", "startTimeUtc", "endTimeUtc"):
        if d.get(key) not in (None, [], ""):
            c.print(f"  {key}: {d[key]}")
    reason = (d.get("properties") or {}).get("reason")
    if reason:
        c.print(f"  why it ran: {reason}")
    for key in ("params", "tags", "properties"):
        if d.get(key):
            c.print(f"  {key}: {json.dumps(d[key], default=str)}")
    if d.get("error"):
        c.print(f"  [red]error: {d['error'].get('message')}[/red]")
    c.print("  status history:")
    for e in d["statusHistory"]:
        c.print(f"    {e['time']}  {e['status']}" + (f"  ({e['reason']})" if e["reason"] else ""))
    files = r.get_file_names()
    if files:
        c.print(f"  files: {', '.join(files)}")
    children = r.get_children()
    if children:
        t = table("children", ["Run", "Name", "Kind", "Status"])
        for ch in children:
            t.add_row(ch.id, ch.display_name or "-", ch.kind, styled_status(ch._record["status"]))
        c.print(t)


@runs.command("logs")
@click.argument("run_id")
@click.option("--follow", "-f", is_flag=True, help="Keep streaming until the run ends.")
def logs(run_id: str, follow: bool) -> None:
    """Print a run's log (stdout and stderr of its script)."""
    status = _run(run_id).stream_log(sys.stdout, follow=follow)
    if follow:
        console(stderr=True).print(f"Run {run_id}: {styled_status(status)}")


@runs.command("metrics")
@click.argument("run_id")
@click.option("--name", default=None, help="Only this metric.")
@click.option("--json", "as_json", is_flag=True)
def metrics(run_id: str, name: str | None, as_json: bool) -> None:
    """Metrics logged by a run."""
    m = _run(run_id).get_metrics(name=name)
    if as_json:
        click.echo(json.dumps(m, default=str))
        return
    if not m:
        console().print(f"Run {run_id} has logged no metrics yet.")
        return
    t = table(None, ["Metric", "Last", "Count", "Values"])
    for k, v in m.items():
        values = v if isinstance(v, list) else [v]
        last = values[-1] if values else ""
        shown = ", ".join(f"{x:.4g}" if isinstance(x, float) else str(x) for x in values[-8:])
        if isinstance(v, dict):
            last, shown, values = "(table)", json.dumps(v, default=str)[:120], [v]
        t.add_row(k, f"{last:.6g}" if isinstance(last, float) else str(last), str(len(values)),
                  ("... " if len(values) > 8 else "") + shown)
    console().print(t)


@runs.command("download")
@click.argument("run_id")
@click.option("--prefix", default=None, help="Only files under this prefix (e.g. outputs/).")
@click.option("--dir", "output_dir", default=".", show_default=True)
def download(run_id: str, prefix: str | None, output_dir: str) -> None:
    """Download a run's files."""
    paths = _run(run_id).download_files(prefix=prefix, output_directory=output_dir)
    for p in paths:
        click.echo(str(p))
    console(stderr=True).print(f"{len(paths)} file(s) downloaded to {output_dir}")


@runs.command("cancel")
@click.argument("run_id")
def cancel(run_id: str) -> None:
    """Cancel a run (and its children); its processes are stopped."""
    status = _run(run_id).cancel()
    console().print(f"Run {run_id}: {styled_status(status)}")
