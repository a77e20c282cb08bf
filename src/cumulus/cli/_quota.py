"""``cumulus quota set|list|clear``: limits on concurrent runs, nodes and GPUs."""

from __future__ import annotations

from typing import Any

import click

from cumulus.cli._common import console, workspace

_NONE = ("none", "-", "unlimited")


def _limit(kind: type) -> Any:
    def convert(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
        if value is None:
            return _UNSET
        if value.lower() in _NONE:
            return None
        try:
            return kind(value)
        except ValueError:
            raise click.BadParameter(f"{value!r} is not a number; give a number or 'none' "
                                     "(no limit)") from None
    return convert


_UNSET: Any = object()


@click.group()
def quota() -> None:
    """Limit concurrent runs, nodes and GPUs for the workspace or one compute target."""


@quota.command("set")
@click.option("--target", "-t", default=None,
              help="The compute target (default: the whole workspace, shared by all targets).")
@click.option("--runs", callback=_limit(int), help="Runs executing at once ('none': no limit).")
@click.option("--nodes", callback=_limit(int), help="Nodes up at once ('none': no limit).")
@click.option("--gpus", callback=_limit(float), help="GPUs in use at once ('none': no limit).")
def set_cmd(target: str | None, runs: Any, nodes: Any, gpus: Any) -> None:
    """Set limits; options not given keep their value. Runs over a quota wait in the queue
    (`cumulus compute status` says why); a run that could never fit is refused at submit."""
    from cumulus.compute import Quota

    given = {k: v for k, v in {"runs": runs, "nodes": nodes, "gpus": gpus}.items()
             if v is not _UNSET}
    if not given:
        raise click.UsageError("Give at least one of --runs, --nodes, --gpus "
                               "(e.g. cumulus quota set --target gpu-cluster --gpus 4).")
    q = Quota.set(workspace(), target, **given)
    where = f"compute target {target!r}" if q.target else "the workspace"
    click.echo(f"quota of {where}: " + _limits(q.limits))


@quota.command("list")
def list_cmd() -> None:
    """Every quota with what is in use now (used/limit)."""
    from cumulus.compute import Quota

    found = Quota.list(workspace())
    if not found:
        click.echo("No quota is set: runs, nodes and GPUs are limited only by each target's "
                   "max_nodes. Set one with: cumulus quota set --gpus 4")
        return
    from rich.table import Table

    table = Table("scope", "runs", "nodes", "gpus")
    for q in found:
        cells = [cell.split(" ", 1)[1] for cell in q.describe().split(", ")]
        table.add_row("workspace" if q.target is None else q.scope, *cells)
    console().print(table)


@quota.command("clear")
@click.option("--target", "-t", default=None, help="The compute target (default: workspace).")
def clear_cmd(target: str | None) -> None:
    """Remove every limit of the workspace or of one target."""
    from cumulus.compute import Quota

    removed = Quota.clear(workspace(), target)
    where = f"compute target {target!r}" if target else "the workspace"
    click.echo(f"removed the quota of {where}" if removed else f"{where} had no quota")


def _limits(limits: Any) -> str:
    return ", ".join(f"{name} {'no limit' if v is None else f'{v:g}'}"
                     for name, v in limits.to_dict().items())
