"""``cumulus env list|show|build``: registered environments and building them on this node."""

from __future__ import annotations

import json
from typing import Any

import click

from cumulus.cli._common import console, fmt_time, table, workspace


@click.group()
def env() -> None:
    """List, inspect and build environments."""


def _rows(ws: Any, name: str | None) -> list[dict[str, Any]]:
    return [{"name": r.name, "version": r.version, "hash": r.hash,
             "definition": r.definition, "created": r.created_at}
            for r in ws.store.environments.list(name)]


def _what(e: Any) -> str:
    parts = []
    if e.image:
        parts.append(f"image {e.image}")
    if e.dockerfile:
        parts.append(f"dockerfile FROM {_from_line(e.dockerfile)}")
    reqs = e.all_requirements
    if reqs:
        shown = ", ".join(reqs[:4]) + (f", +{len(reqs) - 4}" if len(reqs) > 4 else "")
        parts.append(shown)
    if e.python:
        parts.append(f"python {e.python}")
    return "; ".join(parts) or "(worker interpreter)"


def _from_line(text: str) -> str:
    for line in text.splitlines():
        words = line.split()
        if words and words[0].upper() == "FROM" and len(words) > 1:
            return words[1]
    return "?"


def _built_here(e: Any) -> str:
    if e.is_default:
        return "-"
    if e.is_container:
        from cumulus.tasks.containers import cached_image

        try:
            return "yes" if cached_image(e) else "no"
        except Exception:
            return "?"
    from cumulus.tasks.environments import cached_venv

    return "yes" if cached_venv(e) else "no"


@env.command("list")
@click.option("--all-versions", "-a", is_flag=True, help="Every version, not only the latest.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_envs(all_versions: bool, as_json: bool) -> None:
    """Registered environments (latest versions) and whether this node has them built."""
    from cumulus.environment import Environment

    rows = _rows(workspace(), None)
    if not all_versions:
        rows = list({r["name"]: r for r in rows}.values())
    envs = [(r, Environment.from_dict(r["definition"])) for r in rows]
    if as_json:
        click.echo(json.dumps([{"name": r["name"], "version": r["version"], "kind": e.kind,
                                "hash": r["hash"], "build_hash": e.build_hash,
                                "built_here": _built_here(e), "created": fmt_time(r["created"])}
                               for r, e in envs]))
        return
    t = table(None, ["Name", "Version", "Kind", "Contents", "Built here", "Hash", "Created"])
    for r, e in envs:
        t.add_row(r["name"], str(r["version"]), e.kind, _what(e), _built_here(e),
                  r["hash"][:12], fmt_time(r["created"]))
    c = console()
    c.print(t) if envs else c.print(
        "No environments registered yet. Register one with Environment(...).register(ws) or "
        "cumulus env build NAME --pip PACKAGE --register")


@env.command("show")
@click.argument("name")
@click.option("--version", "-v", type=int, default=None, help="Default: the latest.")
@click.option("--json", "as_json", is_flag=True)
def show(name: str, version: int | None, as_json: bool) -> None:
    """The definition of a registered environment."""
    from cumulus.environment import Environment

    e = Environment.get(workspace(), name, version)
    doc = {**e.to_dict(), "kind": e.kind, "hash": e.content_hash, "build_hash": e.build_hash,
           "built_here": _built_here(e)}
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        return
    c = console()
    c.print(f"[bold]{e.name}[/bold] version {e.version}  ({e.kind}, built here: "
            f"{doc['built_here']})")
    for key in ("pip", "requirements", "python", "image", "env_vars", "inherit_packages",
                "hash", "build_hash"):
        if doc.get(key) not in (None, [], {}):
            c.print(f"  {key}: {doc[key]}")
    if e.dockerfile:
        c.print("  dockerfile:")
        for line in e.dockerfile.splitlines():
            c.print(f"    {line}", markup=False)


@env.command("build")
@click.argument("name", required=False)
@click.option("--version", "-v", type=int, default=None, help="Of the registered NAME.")
@click.option("--pip", "pip_", multiple=True, help="A requirement (repeatable).")
@click.option("--requirements", "-r", "requirements_file", default=None,
              help="A pip requirements file.")
@click.option("--python", default=None, help="Python version or interpreter for a virtualenv.")
@click.option("--image", default=None, help="Run in a container of this image.")
@click.option("--dockerfile", default=None, help="Build the image from this Dockerfile.")
@click.option("--no-inherit", is_flag=True, help="Do not see the worker's packages.")
@click.option("--register", is_flag=True, help="Also register it under NAME.")
def build(name: str | None, version: int | None, pip_: tuple[str, ...],
          requirements_file: str | None, python: str | None, image: str | None,
          dockerfile: str | None, no_inherit: bool, register: bool) -> None:
    """Build an environment on this node: a registered NAME, or one given by options.

    \b
    cumulus env build sklearn                    # the latest registered version
    cumulus env build tiny --pip six --register  # define, register and build
    """
    from cumulus.environment import Environment
    from cumulus.environment import environment_definition as definition_of
    from cumulus.tasks.environments import prepare_environment

    inline = bool(pip_ or requirements_file or python or image or dockerfile)
    if not inline and not name:
        raise click.UsageError("Name a registered environment, or give --pip/--requirements/"
                               "--python/--image/--dockerfile.")
    ws = workspace() if (register or not inline) else None
    if inline:
        e = Environment(name or "default", pip=list(pip_), requirements_file=requirements_file,
                        python=python, image=image, dockerfile=dockerfile,
                        inherit_packages=not no_inherit)
        if register:
            e = e.register(ws)
    else:
        e = Environment.get(ws, name or "", version)
    python_exe, _ = prepare_environment(ws, definition_of(e), log=click.echo)
    where = python_exe
    if e.is_container:
        from cumulus.tasks.containers import image_tag

        where = f"image {image_tag(e)} (interpreter {python_exe})"
    label = f"{e.name}" + (f" version {e.version}" if e.version else "")
    click.echo(f"Environment {label} ({e.kind}) is ready: {where}")
