"""Run files on the default datastore, indexed in the store.

A file becomes visible (``get_file_names``) only once it is fully written and indexed: the
store index is the manifest written last.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cumulus.workspace import Workspace


def run_prefix(run_id: str) -> str:
    return f"runs/{run_id}"


def upload_run_file(ws: Workspace, run_id: str, name: str, path: str | Path) -> dict[str, Any]:
    from cumulus.datastores import check_relative

    ds = ws.get_default_datastore()
    rel = check_relative(name)
    location = f"{run_prefix(run_id)}/{rel}"
    ds.fs.put_file(str(path), ds.full_path(location))
    item = {"path": rel, "datastore": ds.name, "location": location,
            "size": os.path.getsize(path), "checksum": None}
    ws.store.add_artifacts(run_id, [item])
    return item


def upload_run_dir(ws: Workspace, run_id: str, local_dir: Path, prefix: str,
                   changed_since: dict[str, tuple[int, int]] | None = None,
                   unindexed: list[dict[str, Any]] | None = None, *,
                   final: bool = False) -> int:
    """Upload every file under ``local_dir`` as ``prefix/...``; returns files uploaded.

    With ``changed_since`` (path -> (size, mtime_ns)) only new or changed files go up, and the
    mapping is updated: used to sync ``./logs`` while the script runs. With ``unindexed``,
    the index entries are appended there for the caller to write (with the run's final
    status, say) instead of being indexed now. ``final``: the script has exited and nothing
    writes the files any more, so the datastore may adopt them rather than copy them (a hard
    link on a local datastore on the same filesystem).
    """
    if not local_dir.is_dir():
        return 0
    from cumulus.datastores._transfer import walk_files

    ds = ws.get_default_datastore()
    items = []
    skipped: list[str] = []
    for path, inner in walk_files(local_dir, contain=True, skipped=skipped):
        full = Path(path)
        rel = f"{prefix}/{inner}"
        st = full.stat()
        sig = (st.st_size, st.st_mtime_ns)
        if changed_since is not None:
            if changed_since.get(rel) == sig:
                continue
            changed_since[rel] = sig
        location = f"{run_prefix(run_id)}/{rel}"
        target = ds.full_path(location)
        if not (final and ds.backend.adopt(ds.fs, str(full), target)):
            ds.fs.put_file(str(full), target)
        items.append({"path": rel, "datastore": ds.name, "location": location,
                      "size": st.st_size, "checksum": None})
    warned = changed_since if changed_since is not None else {}
    for link in skipped:
        if warned.get(f"link:{link}") is None:
            warned[f"link:{link}"] = (0, 0)
            ws.store.append_log(run_id, f"[cumulus] {prefix}/{link} left out: a link leading "
                                        f"outside ./{prefix} is never followed\n")
    if unindexed is not None:
        unindexed.extend(items)
    else:
        ws.store.add_artifacts(run_id, items)
    return len(items)


def discard_outputs(ws: Workspace, run_id: str, keep: str) -> int:
    """Remove what an earlier attempt left of the run's ``outputs/``, except the ``keep``
    folder (its checkpoints, which the next attempt resumes from): index entries and files,
    complete or partial, so that a new attempt's outputs are never mixed with them. Returns
    how many index entries went."""
    ds = ws.get_default_datastore()
    root = ds.full_path(f"{run_prefix(run_id)}/outputs")
    spared = ds.full_path(f"{run_prefix(run_id)}/{keep}") + "/"
    try:
        found = [p for p in ds.fs.find(root) if not p.startswith(spared)]
    except FileNotFoundError:
        found = []
    if found:
        ds.fs.rm(found)
    return ws.store.remove_artifacts(run_id, "outputs/", keep=keep + "/")
