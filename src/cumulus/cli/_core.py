"""``cumulus init``, ``cumulus run`` and ``cumulus workspace``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cumulus.cli._common import console, workspace


@click.command()
@click.option("--name", default=None, help="Workspace name (default: the folder's name).")
@click.option("--path", default=".", type=click.Path(file_okay=False), show_default=True)
@click.option("--store", default=None, help="Store URL (default: SQLite under .cumulus/).")
def init(name: str | None, path: str, store: str | None) -> None:
    """Create a workspace (cumulus.yaml) with embedded defaults, or open the existing one."""
    from cumulus.workspace import Workspace

    root = Path(path).resolve()
    if (root / "cumulus.yaml").exists():
        ws = Workspace.from_config(root)
        console().print(f"Workspace [bold]{ws.name}[/bold] already exists at {ws.root}.")
        return
    raw = name or root.name or "workspace"
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in raw)
    ws = Workspace.create(safe, path=root, store=store)
    ws.store  # noqa: B018 - creates and migrates the store now, so errors show here
    c = console()
    c.print(f"Created workspace [bold]{ws.name}[/bold] at {ws.root}")
    for k, v in ws.get_details().items():
        c.print(f"  {k}: {v}")
    c.print("Next: cumulus run examples/hello/train.py --experiment hello --follow")


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("script", type=click.Path(dir_okay=False))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--experiment", "-e", default="default", show_default=True)
@click.option("--compute", "-c", default=None, help="Compute target (default: workspace's).")
@click.option("--source-dir", "-s", default=None,
              help="Folder to snapshot (default: the script's folder).")
@click.option("--follow", "-f", is_flag=True, help="Stream the log until the run ends.")
@click.option("--tag", "tags", multiple=True, help="KEY=VALUE tag (repeatable).")
def run(script: str, args: tuple[str, ...], experiment: str, compute: str | None,
        source_dir: str | None, follow: bool, tags: tuple[str, ...]) -> None:
    """Submit SCRIPT [ARGS]... as a run (put '--' before script args that look like options)."""
    from cumulus.cli._common import parse_kv
    from cumulus.experiment import Experiment
    from cumulus.runconfig import ScriptRunConfig

    ws = workspace()
    script_path = Path(script).resolve()
    src = Path(source_dir).resolve() if source_dir else script_path.parent
    try:
        rel = script_path.relative_to(src)
    except ValueError:
        raise click.BadParameter(f"{script} is not inside the source folder {src}.",
                                 param_hint="SCRIPT") from None
    cfg = ScriptRunConfig(source_directory=src, script=rel.as_posix(), arguments=list(args),
                          compute_target=compute)
    r = Experiment(ws, experiment).submit(cfg, tags=parse_kv(tags, "--tag") or None)
    c = console(stderr=True)
    c.print(f"Submitted run [bold]{r.id}[/bold] (experiment {experiment}, target "
            f"{r._record['compute_target']})")
    if follow:
        details = r.wait_for_completion(show_output=True, raise_on_error=False)
        if details["status"] != "Completed":
            err = (details.get("error") or {}).get("message", "")
            c.print(f"[red]Run {r.id} {details['status']}[/red] {err}")
            sys.exit(1)
    else:
        c.print(f"Follow it with: cumulus runs logs -f {r.id}")


@click.group(name="workspace")
def workspace_group() -> None:
    """Show the workspace."""


@workspace_group.command("show")
def show() -> None:
    """Print the workspace details."""
    ws = workspace()
    for k, v in ws.get_details().items():
        click.echo(f"{k}: {v}")


workspace_cmd = workspace_group
