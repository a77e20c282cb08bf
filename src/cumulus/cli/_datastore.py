"""``cumulus datastore``: register datastores, list them and their files, move data.

Example::

    export AZURE_CONN='DefaultEndpointsProtocol=...'
    cumulus datastore register blob az://data/cumulus --credential-env AZURE_CONN
    cumulus datastore upload ./mnist -d blob --target-path mnist
    cumulus datastore list blob mnist
    cumulus datastore download -d blob --prefix mnist --target ./copy
"""

from __future__ import annotations

import json
from typing import Any

import click

from cumulus.cli._common import console, parse_kv, table, workspace


@click.group()
def datastore() -> None:
    """Register datastores and move data (secrets by environment variable name only)."""


@datastore.command("register")
@click.argument("name")
@click.argument("url")
@click.option("--credential-env", metavar="VAR",
              help="Name of the environment variable that holds the secret (never the value).")
@click.option("--credential", metavar="KIND",
              help="auto, connection_string, account_key, sas_token, default (Azure identity), "
                   "anonymous or json.")
@click.option("--account-name", help="Storage account (Azure account_key/sas_token/default).")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="A non-secret fsspec storage option; repeatable.")
@click.option("--skip-validation", is_flag=True, help="Do not check access now.")
@click.option("--default", "make_default", is_flag=True, help="Make it the default datastore.")
def register(name: str, url: str, credential_env: str | None, credential: str | None,
             account_name: str | None, options: tuple[str, ...], skip_validation: bool,
             make_default: bool) -> None:
    """Register URL (any fsspec URL: az://, abfs://, s3://, file://, ...) as NAME."""
    from cumulus.datastores import Datastore

    ds = Datastore.register(workspace(), name, url, credential=credential,
                            credential_env=credential_env, account_name=account_name,
                            storage_options=_options(options), skip_validation=skip_validation,
                            set_default=make_default)
    checked = "registered" if skip_validation else "registered and checked access to"
    console().print(f"{checked} datastore [bold]{ds.name}[/bold] at {ds.url} "
                    f"(credential: {ds.credential_description()})")


@datastore.command("list")
@click.argument("name", required=False)
@click.argument("prefix", required=False, default="")
def list_(name: str | None, prefix: str) -> None:
    """List datastores, or with NAME the files under PREFIX on it."""
    from cumulus.datastores import Datastore

    ws = workspace()
    if name is None:
        default = Datastore.get_default(ws).name
        t = table(None, ["name", "protocol", "url", "credential", "default"])
        for ds in Datastore.list(ws).values():
            t.add_row(ds.name, ds.backend.protocol, ds.url, ds.credential_description(),
                      "*" if ds.name == default else "")
        console().print(t)
        return
    from cumulus.datastores._transfer import human_bytes

    files = Datastore.get(ws, name).list_files(prefix)
    t = table(f"{name}:{prefix or '/'} ({len(files)} files)", ["path", "size", "etag"])
    for path, st in files.items():
        t.add_row(path, human_bytes(st.size), st.etag or "")
    console().print(t)


@datastore.command("upload")
@click.argument("sources", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("-d", "--datastore", "name", help="Datastore (default: the workspace default).")
@click.option("--target-path", default=None, help="Folder on the datastore.")
@click.option("--relative-root", type=click.Path(exists=True, file_okay=False),
              help="With several files: keep their paths relative to this folder.")
@click.option("--overwrite", is_flag=True, help="Replace files that exist (default: skip).")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def upload(sources: tuple[str, ...], name: str | None, target_path: str | None,
           relative_root: str | None, overwrite: bool, no_progress: bool) -> None:
    """Upload a folder, or files, to a datastore."""
    from pathlib import Path

    ds = _datastore(name)
    if len(sources) == 1 and Path(sources[0]).is_dir():
        result = ds.upload(sources[0], target_path=target_path, overwrite=overwrite,
                           show_progress=not no_progress)
    else:
        result = ds.upload_files(list(sources), relative_root=relative_root,
                                 target_path=target_path, overwrite=overwrite,
                                 show_progress=not no_progress)
    console().print(f"{result} → {ds.name}:{target_path or '/'}")


@datastore.command("download")
@click.option("-d", "--datastore", "name", help="Datastore (default: the workspace default).")
@click.option("--prefix", default="", help="Path on the datastore to download.")
@click.option("--target", "target", default=".", type=click.Path(file_okay=False),
              help="Local folder (files keep their datastore paths under it).")
@click.option("--overwrite", is_flag=True, help="Replace local files that exist.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def download(name: str | None, prefix: str, target: str, overwrite: bool,
             no_progress: bool) -> None:
    """Download files under a prefix from a datastore."""
    ds = _datastore(name)
    result = ds.download(target, prefix=prefix, overwrite=overwrite,
                         show_progress=not no_progress)
    console().print(f"{result} → {target}")


@datastore.command("unregister")
@click.argument("name")
def unregister(name: str) -> None:
    """Forget a datastore (its data stays)."""
    _datastore(name).unregister()
    console().print(f"unregistered datastore {name}")


@datastore.command("set-default")
@click.argument("name")
def set_default(name: str) -> None:
    """Make NAME the default datastore (snapshots, run outputs and logs go there)."""
    _datastore(name).set_as_default()
    console().print(f"default datastore: {name}")


def _datastore(name: str | None) -> Any:
    from cumulus.datastores import Datastore

    ws = workspace()
    return Datastore.get(ws, name) if name else Datastore.get_default(ws)


def _options(values: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, raw in parse_kv(values, "--option").items():
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out
