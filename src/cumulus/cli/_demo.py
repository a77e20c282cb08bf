"""``cumulus demo``: the end-to-end loop on embedded defaults."""

from __future__ import annotations

import click


@click.command()
@click.option("--path", default="cumulus-demo", show_default=True,
              help="Folder for the demo workspace.")
@click.option("--smoke", is_flag=True, help="A shorter run (for CI).")
def demo(path: str, smoke: bool) -> None:
    """Run the demo: a training run that logs metrics and writes a model."""
    from cumulus.demo import run_demo

    run_demo(path, smoke=smoke)
