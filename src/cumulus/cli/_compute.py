"""``cumulus compute``: create, list, inspect, update and delete compute targets.

A thin shell over :mod:`cumulus.compute`; every check and message comes from the API.

Example::

    cumulus compute create cpu-cluster --max-nodes 4 --idle-seconds 120 --cpus 1 --memory 2GiB
    cumulus compute status cpu-cluster --watch
    cumulus compute update cpu-cluster --min-nodes 1
    cumulus compute delete cpu-cluster --force
"""

from __future__ import annotations

import json
import time
from typing import Any

import click

from cumulus.cli._common import console, parse_kv, table, workspace


@click.group()
def compute() -> None:
    """Create, inspect, update and delete compute targets."""


def _amount(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a number", param_hint="--resource") from None


def _json_or_text(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


@compute.command("create")
@click.argument("name")
@click.option("--backend", default="local", show_default=True,
              help="local, address, ssh, kubernetes or azure.")
@click.option("--min-nodes", type=int, default=0, show_default=True)
@click.option("--max-nodes", type=int, default=4, show_default=True)
@click.option("--idle-seconds", "idle", type=float, default=120, show_default=True,
              help="Release a node after it has been idle this long.")
@click.option("--cpus", type=int, default=1, show_default=True, help="CPUs per node.")
@click.option("--memory", default=None, help="Memory per node, e.g. 2GiB.")
@click.option("--gpus", type=int, default=0, show_default=True, help="GPUs per node.")
@click.option("--resource", multiple=True, metavar="NAME=AMOUNT",
              help="A custom resource every node offers (repeatable).")
@click.option("--max-attempts", type=int, default=3, show_default=True,
              help="Starts of a run whose node dies under it, before it fails.")
@click.option("--address", default=None, help="Scheduler address (backend 'address').")
@click.option("--node-setup", default=None,
              help="A bash command each new node runs before it takes runs.")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="Backend option; VALUE may be JSON (repeatable).")
@click.option("--exist-ok", is_flag=True, help="Succeed if it exists already.")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait until the target is up.")
def create(name: str, backend: str, min_nodes: int, max_nodes: int, idle: float, cpus: int,
           memory: str | None, gpus: int, resource: tuple[str, ...], max_attempts: int,
           address: str | None, node_setup: str | None, options: tuple[str, ...],
           exist_ok: bool, wait: bool) -> None:
    """Create compute target NAME.

    Waits until it is up unless --no-wait; the cluster then scales between --min-nodes and
    --max-nodes and releases nodes idle for --idle-seconds.
    """
    from cumulus.compute import ClusterConfig, ComputeTarget, NodeSpec

    resources = {k: _amount(v) for k, v in parse_kv(resource, "--resource").items()}
    opts = {k: _json_or_text(v) for k, v in parse_kv(options, "--option").items()}
    cfg = ClusterConfig(backend=backend, min_nodes=min_nodes, max_nodes=max_nodes,
                        idle_seconds_before_scaledown=idle, max_attempts=max_attempts,
                        node=NodeSpec(cpus=cpus, memory=memory, gpus=gpus,
                                      resources=resources),
                        address=address, options=opts, node_setup=node_setup)
    target = ComputeTarget.create(workspace(), name, cfg, exist_ok=exist_ok)
    out = console()
    out.print(f"Created compute target [bold]{name}[/bold] ({backend}).")
    if wait:
        target.wait_for_completion(show_output=True, timeout_in_minutes=5)


@compute.command("list")
def list_() -> None:
    """List the workspace's compute targets."""
    from cumulus.compute import list_targets

    t = table("Compute targets", ["name", "backend", "state", "nodes", "allocation",
                                  "queued", "running", "min", "max", "idle s"])
    for name, target in list_targets(workspace()).items():
        s = target.get_status()
        scale = s.scale_settings
        t.add_row(name, s.backend, s.provisioning_state,
                  f"{s.current_node_count}/{s.target_node_count}", s.allocation_state,
                  str(s.queued_runs), str(s.running_runs), str(scale.get("min_nodes", "-")),
                  str(scale.get("max_nodes", "-")),
                  _num(scale.get("idle_seconds_before_scaledown")))
    console().print(t)


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:g}"


def _status_table(s: Any) -> Any:
    t = table(f"Compute target {s.name}", ["field", "value"])
    c = s.node_state_counts
    rows = [("backend", s.backend), ("provisioning state", s.provisioning_state),
            ("allocation state", s.allocation_state),
            ("nodes", f"{s.current_node_count} (target {s.target_node_count})"),
            ("node states", ", ".join(f"{k} {v}" for k, v in c.items())),
            ("queued runs", str(s.queued_runs)), ("running runs", str(s.running_runs)),
            ("scale settings", ", ".join(f"{k}={v}" for k, v in s.scale_settings.items())),
            ("address", s.address or "-")]
    if s.manager:
        rows.append(("manager", f"pid {s.manager.get('pid')} on {s.manager.get('host')}, "
                                f"{'alive' if s.manager.get('alive') else 'not running'}"))
    rows += [("error", e) for e in s.errors]
    for k, v in rows:
        t.add_row(k, str(v))
    return t


@compute.command("status")
@click.argument("name")
@click.option("--watch", is_flag=True, help="Keep printing the counts as they change.")
@click.option("--interval", type=float, default=1.0, show_default=True)
@click.option("--count", type=int, default=None, help="With --watch: stop after N refreshes.")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(name: str, watch: bool, interval: float, count: int | None, as_json: bool) -> None:
    """Show compute target NAME.

    Nodes by state, allocation state, queued and running runs, scale settings.
    """
    from cumulus.compute import ComputeTarget

    target = ComputeTarget(workspace(), name)
    out = console()
    if not watch:
        s = target.get_status()
        queue = _queue(target) if s.queued_runs else []
        if as_json:
            click.echo(json.dumps({**s.to_dict(), "queue": queue}, indent=2, default=str))
        else:
            out.print(_status_table(s))
            if queue:
                out.print(_queue_table(queue))
        return
    last, n = None, 0
    while count is None or n < count:
        s = target.get_status()
        line = f"{time.strftime('%H:%M:%S')} {s.summary()}"
        if s.summary() != last:
            click.echo(json.dumps(s.to_dict(), default=str) if as_json else line)
            last = s.summary()
        n += 1
        if count is None or n < count:
            time.sleep(interval)


def _queue(target: Any) -> list[dict[str, Any]]:
    try:
        return list(target.get_queue())
    except Exception:    # the status is still worth showing
        return []


def _queue_table(queue: list[dict[str, Any]], limit: int = 20) -> Any:
    t = table(f"Queue ({len(queue)} waiting, in start order)",
              ["#", "run", "waiting", "why"])
    for item in queue[:limit]:
        t.add_row(str(item["position"]), str(item["run"]), f"{item['waiting_s']:.0f} s",
                  item["reason"])
    return t


@compute.command("update")
@click.argument("name")
@click.option("--min-nodes", type=int, default=None)
@click.option("--max-nodes", type=int, default=None)
@click.option("--idle-seconds", "idle", type=float, default=None)
@click.option("--node-setup", default=None,
              help="A bash command each node runs before taking runs ('' removes it).")
def update(name: str, min_nodes: int | None, max_nodes: int | None,
           idle: float | None, node_setup: str | None) -> None:
    """Change the scale settings or node setup of NAME.

    A running cluster applies them within a second, without a restart.
    """
    from cumulus.compute import ComputeTarget

    if min_nodes is None and max_nodes is None and idle is None and node_setup is None:
        raise click.UsageError("Give at least one of --min-nodes, --max-nodes, --idle-seconds, "
                               "--node-setup.")
    cfg = ComputeTarget(workspace(), name).update(min_nodes=min_nodes, max_nodes=max_nodes,
                                                  idle_seconds_before_scaledown=idle,
                                                  node_setup=node_setup)
    console().print(f"Updated [bold]{name}[/bold]: min_nodes={cfg.min_nodes}, "
                    f"max_nodes={cfg.max_nodes}, "
                    f"idle_seconds_before_scaledown={cfg.idle_seconds_before_scaledown:g}"
                    + (f", node_setup={cfg.node_setup!r}" if cfg.node_setup else ""))


@compute.command("delete")
@click.argument("name")
@click.option("--force", is_flag=True, help="Cancel runs in flight, then delete.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def delete(name: str, force: bool, yes: bool) -> None:
    """Stop compute target NAME and forget it."""
    from cumulus.compute import ComputeTarget

    target = ComputeTarget(workspace(), name)
    if not yes:
        click.confirm(f"Delete compute target {name!r}"
                      + (" and cancel its runs" if force else "") + "?", abort=True)
    target.delete(force=force)
    console().print(f"Deleted compute target [bold]{name}[/bold].")


@compute.command("nodes")
@click.argument("name")
def nodes(name: str) -> None:
    """The nodes of compute target NAME: host, process, working directory, runs."""
    from cumulus.compute import ComputeTarget

    t = table(f"Nodes of {name}", ["node", "host", "pid", "working directory", "runs",
                                   "setup"])
    for n in ComputeTarget(workspace(), name).list_nodes():
        setup = n.get("setup")
        t.add_row(n["name"], str(n["host"]), str(n["pid"]), str(n["cwd"]),
                  ", ".join(n["runs"]) or "-",
                  "-" if not setup else (f"ok ({setup['seconds']:g} s)" if setup["ok"]
                                         else f"FAILED: {setup['summary']}"))
    console().print(t)


@compute.command("ssh", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("node", required=False)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def ssh(name: str, node: str | None, command: tuple[str, ...]) -> None:
    """Open a shell on NODE of ssh target NAME (or run COMMAND there, after `--`).

    For nodes on this machine (local targets) it prints the node's process and working
    directory instead.
    """
    import os
    import shutil
    import sys

    from cumulus.compute import ComputeTarget
    from cumulus.compute._nodes import pick_node, run_on, ssh_argv

    target = ComputeTarget(workspace(), name)
    picked = pick_node(target.list_nodes(), node, name)
    cfg = target.config
    if cfg.backend != "ssh":
        console().print(f"Node [bold]{picked['name']}[/bold] of {name!r} runs on this machine "
                        f"({picked['host']}): process {picked['pid']}, working directory "
                        f"{picked['cwd']}.\nThere is no SSH for a {cfg.backend} target: "
                        f"`cd {picked['cwd']}` to look at it.")
        return
    options = dict(cfg.options.get("connect_options") or {})
    if command:
        code, out, err = run_on(str(picked["host"]), options, list(command))
        sys.stdout.write(out)
        sys.stderr.write(err)
        sys.exit(code)
    if shutil.which("ssh") is None:
        raise click.ClickException("no `ssh` client here: apt-get install openssh-client "
                                   "(or run one command: cumulus compute ssh NAME NODE -- CMD)")
    argv = ssh_argv(str(picked["host"]), options, [])
    os.execvp(argv[0], argv)
