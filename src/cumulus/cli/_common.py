"""Helpers shared by the CLI modules: the workspace, consoles, tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click


def workspace() -> Any:
    from cumulus.workspace import Workspace

    return Workspace.from_config()


LATEST = "latest"


def resolve_run_id(ws: Any, run_id: str, kind: str | None = None) -> str:
    """``run_id`` itself, or for ``latest`` the newest top-level run (of ``kind``)."""
    if run_id != LATEST:
        return run_id
    found = ws.store.list_runs(top_level=True, kind=kind, limit=1)
    if not found:
        what = f"{kind} run" if kind else "run"
        raise click.ClickException(f"'latest' names the newest {what} of the workspace, and "
                                   f"it has none yet.")
    return str(found[0]["id"])


def console(stderr: bool = False) -> Any:
    """A rich console; when the output is not a terminal, wide enough not to fold ids."""
    import sys

    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 200
    return Console(stderr=stderr, highlight=False, width=width)


def table(title: str | None, columns: list[str]) -> Any:
    from rich.table import Table

    t = Table(title=title, header_style="bold")
    for i, c in enumerate(columns):
        # the first column is an id: never wrap it; the rest may be shortened
        t.add_column(c, no_wrap=i == 0, overflow="fold" if i == 0 else "ellipsis")
    return t


def fmt_time(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def fmt_duration(start: Any, end: Any) -> str:
    if start is None:
        return "-"
    from datetime import timezone

    end = end or datetime.now(timezone.utc)
    if start.tzinfo is None:
        start = start.replace(tzinfo=timezone.utc)
    if end.tzinfo is None:
        end = end.replace(tzinfo=timezone.utc)
    secs = (end - start).total_seconds()
    return f"{secs:.1f}s" if secs < 120 else f"{secs / 60:.1f}m"


STATUS_STYLE = {"Completed": "green", "Failed": "red", "Canceled": "yellow",
                "Running": "cyan", "Queued": "dim", "Preparing": "blue",
                "Finalizing": "blue", "CancelRequested": "yellow"}


def styled_status(status: str) -> str:
    style = STATUS_STYLE.get(status)
    return f"[{style}]{status}[/{style}]" if style else status


def parse_kv(values: tuple[str, ...], what: str = "value") -> dict[str, str]:
    out = {}
    for item in values:
        if "=" not in item:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=what)
        k, v = item.split("=", 1)
        out[k] = v
    return out
