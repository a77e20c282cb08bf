"""Live run views: ``RunDetails(run).show()``.

In Jupyter it renders an HTML view (status, children, latest metrics, log tail) that refreshes
in the background until the run ends; in a terminal it prints the same as text and returns.

Example::

    from cumulus.widgets import RunDetails
    RunDetails(run).show()
"""

from __future__ import annotations

import html
import sys
import threading
import time
from typing import Any

TERMINAL = ("Completed", "Failed", "Canceled")


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ip = shell.get_ipython()
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def _latest(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: (v[-1] if isinstance(v, list) and v else v) for k, v in metrics.items()}


class RunDetails:
    """A live view of a run and its children."""

    def __init__(self, run_instance: Any) -> None:
        self.run = run_instance
        self._thread: threading.Thread | None = None

    def get_widget_data(self) -> dict[str, Any]:
        """What the view shows, as data."""
        run = self.run
        children = run.get_children()
        return {
            "run_id": run.id, "status": run.get_status(), "name": getattr(run, "name", run.id),
            "metrics": _latest(run.get_metrics()) if not hasattr(run, "get_trials") else {},
            "children": [{"id": c.id, "name": c.display_name, "status": c.get_status(),
                          "metrics": _latest(c.get_metrics())} for c in children],
            "log_tail": run.get_log_tail(15),
        }

    def text(self) -> str:
        d = self.get_widget_data()
        lines = [f"Run {d['run_id']} ({d['name']}): {d['status']}"]
        for k, v in d["metrics"].items():
            lines.append(f"  {k}: {v}")
        if d["children"]:
            lines.append(f"  {len(d['children'])} child run(s):")
            for c in d["children"][:50]:
                shown = ", ".join(f"{k}={v}" for k, v in list(c["metrics"].items())[:4])
                lines.append(f"    {c['id']}  {c['status']:<10} {c['name'] or ''}  {shown}")
        if d["log_tail"]:
            lines.append("  log tail:")
            lines += ["    " + ln for ln in d["log_tail"].splitlines()]
        return "\n".join(lines)

    def html(self) -> str:
        d = self.get_widget_data()
        esc = html.escape
        rows = "".join(
            f"<tr><td>{esc(c['id'])}</td><td>{esc(str(c['name'] or ''))}</td>"
            f"<td>{esc(c['status'])}</td><td>{esc(str(c['metrics']))}</td></tr>"
            for c in d["children"])
        metrics = "".join(f"<li>{esc(k)}: {esc(str(v))}</li>" for k, v in d["metrics"].items())
        return (f"<div><b>Run {esc(d['run_id'])}</b> ({esc(str(d['name']))}): "
                f"<b>{esc(d['status'])}</b><ul>{metrics}</ul>"
                + (f"<table><tr><th>child</th><th>name</th><th>status</th><th>metrics</th>"
                   f"</tr>{rows}</table>" if rows else "")
                + f"<pre>{esc(d['log_tail'])}</pre></div>")

    def show(self, refresh_seconds: float = 2.0) -> None:
        """Render the view: live in Jupyter, once as text elsewhere."""
        if not _in_notebook():
            print(self.text(), flush=True)
            return
        from IPython.display import HTML, display

        handle = display(HTML(self.html()), display_id=True)

        def refresh() -> None:
            while True:
                time.sleep(refresh_seconds)
                done = self.run.get_status() in TERMINAL
                handle.update(HTML(self.html()))
                if done:
                    return

        self._thread = threading.Thread(target=refresh, daemon=True, name="RunDetails")
        self._thread.start()


__all__ = ["RunDetails"]
