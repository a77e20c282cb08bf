"""Node preparation: ``ClusterConfig(node_setup=...)`` runs once on each new node before it
takes a run (installing drivers, warming a cache, mounting a share).

A Dask worker plugin starts the command in the background when the node joins, in the node's
working directory, with ``CUMULUS_NODE_NAME`` set; the scheduler plugin keeps the node
``preparing`` (no run is placed there) until the node reports. Success makes it usable; a
failure (non-zero exit, or ``node_setup_timeout``) marks it ``setup-failed`` with its log:
queued runs keep waiting (none is lost), the target's status names the node and the error,
and the node is released after the idle grace, so a fresh node tries again. Fix the command
with ``target.update(node_setup=...)``: every node runs the new one.

Example::

    ClusterConfig(max_nodes=4, node_setup="pip download -q -d ~/wheels torch",
                  node_setup_timeout=900)
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

LOG_NAME = "node_setup.log"
LOG_KEPT = 20_000          # characters of the setup's output kept in the report


class NodeSetup(WorkerPlugin):
    """Runs the target's ``node_setup`` on each node and reports to the scheduler."""

    name = "cumulus-node-setup"

    def __init__(self, command: str, timeout: float = 600.0) -> None:
        self.command = command
        self.timeout = timeout

    def setup(self, worker: Any) -> None:
        # in the background: a long setup must not hold up the node joining the cluster
        self._task = asyncio.ensure_future(self._prepare(worker))

    async def _prepare(self, worker: Any) -> None:
        start = time.monotonic()
        ok, log = await run_setup(self.command, self.timeout, str(worker.local_directory),
                                  str(worker.name))
        summary = "" if ok else summarize(log)
        try:
            with open(os.path.join(worker.local_directory, LOG_NAME), "w") as fh:
                fh.write(log)
        except OSError:
            pass
        await worker.scheduler.cumulus_node_setup(
            name=str(worker.name), ok=ok, log=log[-LOG_KEPT:], summary=summary,
            seconds=round(time.monotonic() - start, 2))


async def run_setup(command: str, timeout: float, cwd: str, node: str) -> tuple[bool, str]:
    """Run ``command`` with bash; (succeeded, its output with a last status line)."""
    env = {**os.environ, "CUMULUS_NODE_NAME": node}
    proc = await asyncio.create_subprocess_exec(
        "bash", "-c", command, cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        start_new_session=True)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        import signal

        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out = b""
        if proc.stdout is not None:
            try:
                out = await asyncio.wait_for(proc.stdout.read(), 5)
            except Exception:
                pass
        await proc.wait()
        return False, out.decode(errors="replace") + \
            f"\n[cumulus] node_setup timed out after {timeout:g} s (node_setup_timeout)\n"
    text = out.decode(errors="replace")
    if proc.returncode:
        return False, text + f"\n[cumulus] node_setup exited with status {proc.returncode}\n"
    return True, text


def summarize(log: str) -> str:
    """The last status line and the last line of output before it, for status listings.

    >>> summarize("a\\nboom\\n\\n[cumulus] node_setup exited with status 3\\n")
    'node_setup exited with status 3: boom'
    """
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    status = lines.pop()[len("[cumulus] "):] if lines and lines[-1].startswith(
        "[cumulus] ") else "node_setup failed"
    return f"{status}: {lines[-1][:300]}" if lines else status


__all__ = ["LOG_NAME", "NodeSetup", "run_setup", "summarize"]
