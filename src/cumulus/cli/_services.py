"""``cumulus services list|stop``: the background processes of this workspace."""

from __future__ import annotations

import time

import click

from cumulus.cli._common import console, workspace


@click.group()
def services() -> None:
    """List and stop the background processes Cumulus runs for this workspace."""


@services.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_cmd(as_json: bool) -> None:
    """Every process running for this workspace, with its memory (RSS of its whole tree)."""
    from cumulus.services import list_services

    found = list_services(workspace())
    if as_json:
        import json
        from dataclasses import asdict

        click.echo(json.dumps([asdict(s) for s in found], indent=2))
        return
    if not found:
        click.echo("No Cumulus process runs for this workspace.")
        return
    from rich.table import Table

    table = Table("service", "pid", "memory", "cpu", "up", "command")
    for s in found:
        table.add_row(s.key, str(s.pid), f"{s.rss_mb:.0f} MB", f"{s.cpu_seconds:.0f} s",
                      _age(time.time() - s.started), s.command)
    console().print(table)
    total = sum(s.rss_mb for s in found)
    console().print(f"{len(found)} process tree(s), {total:.0f} MB. "
                    "Stop them with: cumulus services stop --all")


@services.command("stop")
@click.argument("names", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Stop every service of this workspace.")
@click.option("--kind", "kinds", multiple=True,
              help="Only services of this kind (compute, pipeline-agent, prefect-server, "
                   "sweep-controller, model-service).")
def stop_cmd(names: tuple[str, ...], all_: bool, kinds: tuple[str, ...]) -> None:
    """Stop services by name (``compute:local`` or ``local``), by --kind, or --all."""
    from cumulus.services import stop_services

    if not (names or all_ or kinds):
        raise click.UsageError("Name the services to stop (see `cumulus services list`), or "
                               "pass --kind KIND or --all.")
    from cumulus.flows._server import LocalServer

    ws = workspace()
    server = LocalServer(ws)
    asked = not names and (not kinds or "prefect-server" in kinds)
    shared = server.url_if_alive() if asked and server.registered() else None
    stopped = stop_services(ws, kinds=kinds or None, names=names or None)
    for s in stopped:
        click.echo(f"stopped {s.key} (pid {s.pid}, {s.rss_mb:.0f} MB)")
    if shared and server.url_if_alive() and not any(s.kind == "prefect-server" for s in stopped):
        click.echo(f"kept the Prefect server at {shared}: another workspace on this machine "
                   "uses it (`cumulus pipeline server stop` stops it for all)")
    elif not stopped:
        click.echo("Nothing to stop.")


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@click.command()
def doctor() -> None:
    """Compare the store with what runs, and restart whatever died with work in flight
    (compute managers, the pipeline agent, sweep controllers)."""
    from cumulus.doctor import reconcile

    actions = reconcile(workspace())
    for line in actions:
        click.echo(line)
    click.echo(f"{len(actions)} repair(s)." if actions else "Everything that should run runs.")
