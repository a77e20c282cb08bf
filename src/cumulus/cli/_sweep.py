"""``cumulus sweep launch|show|plot|resume|cancel|list``: hyperparameter sweeps."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from cumulus.cli._common import console, fmt_duration, fmt_time, parse_kv, styled_status, table
from cumulus.cli._common import workspace as open_workspace

ENDED = ("Completed", "Failed", "Canceled")


def _sweep_run(run_id: str) -> Any:
    from cumulus.sweeps import SweepRun

    return SweepRun.get(open_workspace(), run_id)


@click.group()
def sweep() -> None:
    """Launch and inspect hyperparameter sweeps."""


@sweep.command("launch")
@click.argument("sweep_file", type=click.Path(dir_okay=False))
@click.option("--experiment", "-e", default=None,
              help="Experiment to record it in (default: the file's 'experiment', or 'default').")
@click.option("--tag", "tags", multiple=True, help="KEY=VALUE tag (repeatable).")
@click.option("--follow", "-f", is_flag=True, help="Stream the sweep's log until it ends.")
def launch(sweep_file: str, experiment: str | None, tags: tuple[str, ...], follow: bool) -> None:
    """Submit the sweep described in SWEEP_FILE (YAML mirroring the Python API)."""
    from cumulus.experiment import Experiment
    from cumulus.sweeps._yaml import load_sweep_yaml

    ws = open_workspace()
    spec = load_sweep_yaml(sweep_file, ws)
    name = experiment or spec.experiment or "default"
    all_tags = {**spec.tags, **parse_kv(tags, "--tag")}
    srun = Experiment(ws, name).submit(spec.sweep, tags=all_tags or None)
    err = console(stderr=True)
    err.print(f"Launched sweep [bold]{srun.id}[/bold] (experiment {name}): "
              f"{spec.sweep!r}")
    click.echo(srun.id)
    if not follow:
        err.print(f"Follow it with: cumulus sweep show {srun.id} --follow")
        return
    details = srun.wait_for_completion(show_output=True, raise_on_error=False)
    _print_show(srun, top=10)
    if details["status"] != "Completed":
        sys.exit(1)


@sweep.command("show")
@click.argument("run_id")
@click.option("--top", "-n", default=0, show_default=True, help="Only the best N trials (0: all).")
@click.option("--follow", "-f", is_flag=True, help="Refresh until the sweep ends.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show(run_id: str, top: int, follow: bool, as_json: bool) -> None:
    """The trials of a sweep sorted by the primary metric, with its progress."""
    srun = _sweep_run(run_id)
    if as_json:
        click.echo(json.dumps(_show_data(srun, top), default=str, indent=2))
        return
    if follow and srun.get_status() not in ENDED:
        _follow(srun, top)
    _print_show(srun, top)


@sweep.command("plot")
@click.argument("run_id")
@click.option("--output", "-o", default=None, help="PNG path (default: sweep_<ID>.png).")
def plot(run_id: str, output: str | None) -> None:
    """Write a PNG of the primary metric of every trial over steps."""
    from cumulus.sweeps._plot import plot_sweep

    srun = _sweep_run(run_id)
    path = plot_sweep(srun, output or f"sweep_{run_id}.png")
    console(stderr=True).print(f"Wrote {path}")
    click.echo(str(path))


@sweep.command("resume")
@click.argument("run_id")
@click.option("--foreground", is_flag=True,
              help="Drive the sweep in this process until it ends (default: detached).")
def resume(run_id: str, foreground: bool) -> None:
    """Restart the controller of a sweep whose controller died (trials are kept)."""
    srun = _sweep_run(run_id)
    srun.resume(detach=not foreground)
    status = srun.get_status()
    console().print(f"Sweep {run_id}: {styled_status(status)}" + (
        "" if foreground else f" (controller restarted; follow it with: cumulus sweep show "
                              f"{run_id} --follow)"))


@sweep.command("cancel")
@click.argument("run_id")
def cancel(run_id: str) -> None:
    """Cancel a sweep and its running trials."""
    status = _sweep_run(run_id).cancel()
    console().print(f"Sweep {run_id}: {styled_status(status)}")


@sweep.command("list")
@click.option("--limit", "-n", default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def list_sweeps(limit: int, as_json: bool) -> None:
    """The newest sweeps first."""
    from cumulus.sweeps import _state

    ws = open_workspace()
    ids = set(_state.list_ids(ws.store))
    runs = [r for r in ws.store.list_runs(limit=None) if r["id"] in ids][:limit]
    if as_json:
        click.echo(json.dumps([{"id": r["id"], "status": r["status"],
                                "created": fmt_time(r["created_at"])} for r in runs]))
        return
    t = table(None, ["Sweep", "Status", "Created", "Duration", "Best"])
    for r in runs:
        props = r.get("properties") or {}
        best = props.get("best_primary_metric")
        t.add_row(r["id"], styled_status(r["status"]), fmt_time(r["created_at"]),
                  fmt_duration(r["start_time"], r["end_time"]),
                  "-" if best is None else f"{best:.6g}")
    c = console()
    c.print(t) if runs else c.print("No sweeps yet. Launch one with: cumulus sweep launch "
                                    "sweep.yaml")


# --------------------------------------------------------------------------- rendering


def _show_data(srun: Any, top: int) -> dict[str, Any]:
    return {"id": srun.id, "status": srun.get_status(),
            "experiment": srun.experiment.name,
            "primary_metric_name": srun.primary_metric_name,
            "primary_metric_goal": srun.primary_metric_goal,
            "progress": srun.get_progress(), "warnings": srun.get_warnings(),
            "controller": srun.controller_status(),
            "trials": srun.get_children_sorted_by_primary_metric(top=top)}


def _header(srun: Any, status: str) -> list[str]:
    from cumulus.sweeps._plan import policy_text
    from cumulus.sweeps._policies import policy_from_dict

    d = srun.definition
    lines = [f"[bold]Sweep {srun.id}[/bold]  {styled_status(status)}  (experiment "
             f"{srun.experiment.name}, {d['sampling']['type']} sampling, "
             f"{d['primary_metric_goal']} {d['primary_metric_name']!r}, policy "
             f"{policy_text(policy_from_dict(d.get('policy')))})"]
    ctl = srun.controller_status()
    if status not in ENDED:
        if ctl["alive"]:
            age = ctl["heartbeat_age_seconds"] or 0.0
            lines.append(f"  controller: running (pid {ctl['pid']}, heartbeat {age:.1f} s ago)")
        else:
            lines.append(f"  [red]controller: not running[/red] (it died or was stopped); "
                         f"resume with: cumulus sweep resume {srun.id}")
    for warning in srun.get_warnings():
        lines.append(f"  [bold red]{warning}[/bold red]")
    return lines


def _progress_line(progress: dict[str, Any]) -> str:
    done = sum(progress.get(s, 0) for s in ENDED)
    active = progress.get("issued", 0) - done
    planned = progress.get("planned")
    parts = [f"{progress.get('Completed', 0)} completed", f"{active} active",
             f"{progress.get('pruned', 0)} early-terminated",
             f"{progress.get('Failed', 0)} failed"]
    return f"{done}/{planned if planned is not None else '?'} trials done: " + ", ".join(parts)


def _bar(progress: dict[str, Any], width: int = 40) -> str:
    """``[████████░░░░░░░░]  40%``: trials ended of those planned (text, so logs show it)."""
    done = sum(progress.get(s, 0) for s in ENDED)
    planned = progress.get("planned") or max(progress.get("issued", 0), 1)
    filled = min(width, round(width * done / planned))
    return f"  [green]{'█' * filled}[/green]{'░' * (width - filled)}  {100 * done / planned:.0f}%"


def _trials_table(srun: Any, top: int) -> Any:
    rows = srun.get_children_sorted_by_primary_metric(top=top)
    names = sorted({k for r in rows for k in r["hyperparameters"]})
    metric = srun.primary_metric_name
    t = table(f"trials (run id = {srun.id}_<trial>), best first",
              ["rank", "trial", "status", f"{metric} (best)", "final", "steps", *names])
    for rank, r in enumerate(rows, 1):
        status = styled_status(r["status"])
        if r["early_termination"]:
            status += " [yellow](early-terminated)[/yellow]"
        trial = r["run_id"][len(srun.id) + 1:] if r["run_id"].startswith(srun.id) else \
            r["run_id"]
        t.add_row(str(rank), trial, status, _num(r["best_primary_metric"]),
                  _num(r["final_primary_metric"]), str(r["steps"]),
                  *[_num(r["hyperparameters"].get(n)) for n in names])
    return t


def _num(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _print_show(srun: Any, top: int) -> None:
    c = console()
    status = srun.get_status()
    for line in _header(srun, status):
        c.print(line)
    progress = srun.get_progress()
    if status not in ENDED:
        c.print(_bar(progress))
    c.print("  " + _progress_line(progress))
    c.print(_trials_table(srun, top))


def _follow(srun: Any, top: int) -> None:
    from rich.console import Group
    from rich.live import Live

    def render() -> Any:
        progress = srun.get_progress()
        return Group(_bar(progress), "  " + _progress_line(progress),
                     _trials_table(srun, top or 10))

    with Live(render(), console=console(), refresh_per_second=2, transient=True) as live:
        while srun.get_status() not in ENDED and srun.controller_status()["alive"]:
            time.sleep(1.0)
            live.update(render())
