"""Serving the API and web app: ``cumulus ui`` (loopback by default; a token elsewhere)."""

from __future__ import annotations

import ipaddress
import os
import secrets
import socket
from typing import TYPE_CHECKING

from cumulus.errors import ConfigError

if TYPE_CHECKING:
    from cumulus.workspace import Workspace

TOKEN_ENV = "CUMULUS_UI_TOKEN"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_port(host: str, port: int) -> None:
    """A clear error when ``port`` is taken, before the server starts."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"Cannot listen on {host}:{port}: {exc.strerror or exc}. Another "
                              f"program uses port {port}; pick another with --port.") from None


def serve(ws: Workspace, host: str = "127.0.0.1", port: int = 8765,
          token: str | None = None) -> None:
    """Run the server until interrupted. Off loopback every request needs the token."""
    import uvicorn

    from cumulus.ui._api import create_app

    token = token or os.environ.get(TOKEN_ENV) or secrets.token_urlsafe(24)
    check_port(host, port)
    loopback = is_loopback(host)
    app = create_app(ws, token=token, open_reads=loopback)
    shown = host if ":" not in host else f"[{host}]"
    print(f"Cumulus studio for workspace {ws.name!r}: http://{shown}:{port}/?token={token}",
          flush=True)
    if not loopback:
        print(f"Listening on {host}: every request needs the token (set {TOKEN_ENV} to choose "
              "it). Put it behind TLS for use beyond a trusted network.", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


__all__ = ["TOKEN_ENV", "check_port", "is_loopback", "serve"]
