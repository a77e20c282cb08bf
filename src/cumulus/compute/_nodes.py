"""The nodes of a compute target, as the scheduler and the nodes themselves report them; and
reaching a node of an ``ssh`` target (``cumulus compute ssh``).

Example::

    ComputeTarget(ws, "pair").list_nodes()
    # [{'name': 'node-0-10.0.0.2', 'host': '10.0.0.2', 'pid': 4121, 'cwd': '/tmp/...', ...}]
"""

from __future__ import annotations

import os
import shlex
from typing import Any

from cumulus.compute._base import RUN_PREFIX
from cumulus.errors import ComputeError, allowed_list


def _where() -> tuple[int, str]:
    return os.getpid(), os.getcwd()


def list_nodes(backend: Any) -> list[dict[str, Any]]:
    client_of = getattr(backend, "client", None)
    if client_of is None:
        return []
    try:
        client = client_of()
        info = client.scheduler_info(n_workers=-1)["workers"]
        where = client.run(_where) if info else {}
        processing = client.processing()
        setup = _setup_reports(client)
    except Exception as exc:    # not running: no nodes to list
        raise ComputeError(f"Cannot reach compute target {backend.name!r}'s scheduler: "
                           f"{type(exc).__name__}: {exc}") from exc
    nodes = []
    for address, w in sorted(info.items(), key=lambda kv: str(kv[1].get("name"))):
        pid, cwd = where.get(address, (None, None))
        runs = [str(k)[len(RUN_PREFIX):] for k in processing.get(address, ())
                if str(k).startswith(RUN_PREFIX)]
        nodes.append({"name": str(w.get("name")), "address": address, "host": w.get("host"),
                      "pid": pid, "cwd": cwd, "nthreads": w.get("nthreads"), "runs": runs,
                      "setup": setup.get(str(w.get("name")))})
    return nodes


def _setup_reports(client: Any) -> dict[str, Any]:
    """node name -> its node_setup report (ok, log, seconds, summary); {} without one."""
    try:
        return dict(client.sync(client.scheduler.cumulus_setup_reports) or {})
    except Exception:      # a scheduler without the cumulus plugin (address targets)
        return {}


def pick_node(nodes: list[dict[str, Any]], wanted: str | None, target: str) -> dict[str, Any]:
    """The node named (or addressed) ``wanted``, or the only one."""
    if not nodes:
        raise ComputeError(f"Compute target {target!r} has no node now; start one with "
                           f"`cumulus compute update {target} --min-nodes 1`.")
    if wanted is None:
        if len(nodes) == 1:
            return nodes[0]
        raise ComputeError(f"Compute target {target!r} has {len(nodes)} nodes; name one: "
                           f"{allowed_list(n['name'] for n in nodes)}.")
    for node in nodes:
        if wanted in (node["name"], node["address"], node["host"]):
            return node
    raise ComputeError(f"Compute target {target!r} has no node {wanted!r}; its nodes: "
                       f"{allowed_list(n['name'] for n in nodes)}.")


def ssh_argv(host: str, options: dict[str, Any], command: list[str]) -> list[str]:
    """The ``ssh`` command line that reaches ``host`` with asyncssh-style ``options``."""
    argv = ["ssh"]
    if options.get("username"):
        argv += ["-l", str(options["username"])]
    if options.get("port"):
        argv += ["-p", str(options["port"])]
    for key in options.get("client_keys") or ():
        argv += ["-i", str(key)]
    if "known_hosts" in options and options["known_hosts"] is None:
        argv += ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                 "-o", "LogLevel=ERROR"]
    argv.append(host)
    if command:
        argv.append(" ".join(shlex.quote(c) for c in command))
    return argv


def run_on(host: str, options: dict[str, Any], command: list[str]) -> tuple[int, str, str]:
    """Run ``command`` on ``host`` over SSH (asyncssh); returns (exit status, stdout, stderr)."""
    import asyncio

    import asyncssh

    async def go() -> tuple[int, str, str]:
        async with asyncssh.connect(host, **options) as conn:
            result = await conn.run(" ".join(shlex.quote(c) for c in command))
            return int(result.exit_status or 0), str(result.stdout), str(result.stderr)

    return asyncio.run(go())
