"""``cumulus tensorboard RUN_ID...``: TensorBoard over runs' event files."""

from __future__ import annotations

import click

from cumulus.cli._common import console
from cumulus.cli._common import workspace as open_workspace


@click.command()
@click.argument("run_ids", nargs=-1, required=True)
@click.option("--port", default=6006, show_default=True, help="Port (0: a free one).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--open", "open_browser", is_flag=True, help="Open it in a browser.")
def tensorboard(run_ids: tuple[str, ...], port: int, host: str, open_browser: bool) -> None:
    """Show the TensorBoard event files RUN_IDS write under ./logs (live while they run)."""
    import time

    from cumulus.run import Run
    from cumulus.tensorboard import Tensorboard

    ws = open_workspace()
    from cumulus.cli._common import resolve_run_id

    runs = [Run.get(ws, resolve_run_id(ws, run_id)) for run_id in run_ids]
    tb = Tensorboard(runs, port=port, host=host)
    url = tb.start(start_browser=open_browser)
    console(stderr=True).print(f"TensorBoard over {len(runs)} run(s): [bold]{url}[/bold] "
                               f"(Ctrl-C stops it)")
    click.echo(url)
    try:
        while tb.proc is not None and tb.proc.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        tb.stop()
