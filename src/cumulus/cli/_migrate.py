"""``cumulus migrate PATH...``: a thin shell over :func:`cumulus.azureml._migrate.migrate`."""

from __future__ import annotations

import sys

import click


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--dry-run", is_flag=True, help="Show the diff; change nothing.")
def migrate(paths: tuple[str, ...], dry_run: bool) -> None:
    """Rewrite Azure ML SDK v1 imports (azureml.X -> cumulus.azureml.X) in .py and .ipynb
    files, then list what Cumulus does not map (exit 1 if anything)."""
    from cumulus.azureml._migrate import migrate as run

    results = run(list(paths), dry_run=dry_run)
    problems = 0
    for r in results:
        if r.error:
            click.echo(f"{r.path}: {r.error}", err=True)
            problems += 1
            continue
        if dry_run and r.diff:
            click.echo(r.diff, nl=False)
        if r.imports:
            verb = "would rewrite" if dry_run else "rewrote"
            click.echo(f"{r.path}: {verb} {r.imports} import(s)")
        for f in r.findings:
            click.echo(str(f))
            problems += "commented out" not in f.message
    changed = sum(r.changed for r in results)
    click.echo(f"{len(results)} file(s) checked, {changed} {'to change' if dry_run else 'changed'}"
               f", {problems} problem(s) to look at.")
    sys.exit(1 if problems else 0)
