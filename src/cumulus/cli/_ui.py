"""``cumulus ui``: the REST API and web app over this workspace."""

from __future__ import annotations

import click

from cumulus.cli._common import workspace


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; any other than loopback requires the token.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535))
@click.option("--open", "open_browser", is_flag=True, help="Open the browser.")
def ui(host: str, port: int, open_browser: bool) -> None:
    """Serve the web app and the REST API (/api/v1, OpenAPI at /api/v1/openapi.json)."""
    from cumulus.ui._server import serve

    ws = workspace()
    if open_browser:
        import threading
        import webbrowser

        threading.Timer(1.5, webbrowser.open, [f"http://{host}:{port}/"]).start()
    serve(ws, host=host, port=port)
