"""Atomic run outputs (``as_upload()``): stage, then commit, then write the manifest last.

1. Every file goes to a staging prefix, ``<root>/.cumulus-staging/<run_id>/<hash>/``; an
   interrupted upload leaves nothing at the target.
2. Commit. Where the store can rename folders (local), the staged folder is renamed into
   place. On object stores a marker ``<target>/.cumulus-committing`` is written first, old
   files are removed, staged files are moved server-side, the manifest
   ``<target>/.cumulus-manifest.json`` (files, sizes, ETags) is written and the marker
   removed. Cumulus readers refuse a folder holding the marker, so no reader sees half an
   output.
3. The staging prefix is removed.

The run's executor commits in a child process (``python -m cumulus.datastores._commit``), so a
killed upload is seen as such: the run fails with the reason and nothing is committed.

Example::

    summary = commit_output(ds, Path("outputs_data/model"), "models/v1", run_id, overwrite=True)
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cumulus._hashing import text_digest
from cumulus._install import PACKAGE_ROOT
from cumulus.datastores._transfer import (
    COMMITTING,
    MANIFEST,
    STAGING_DIR,
    is_internal,
    upload,
    walk_files,
)
from cumulus.errors import DatastoreError

if TYPE_CHECKING:
    from cumulus.datastores._datastore import Datastore



def staging_path(run_id: str, path: str) -> str:
    return f"{STAGING_DIR}/{run_id}/{text_digest(path, 16)}"


def existing_files(ds: Datastore, path: str) -> dict[str, Any]:
    """Files already at ``path`` (Cumulus's own markers excluded)."""
    tree = ds.backend.tree(ds.fs, ds.full_path(path))
    return {r: s for r, s in tree.items() if not is_internal(r)}


def commit_output(ds: Datastore, local: Path, path: str, run_id: str, *,
                  overwrite: bool) -> dict[str, Any]:
    """Upload folder ``local`` to ``ds:path`` all-or-nothing; returns the manifest summary."""
    if not path:
        raise DatastoreError("An output cannot replace the datastore root; give a folder path.")
    staging = staging_path(run_id, path)
    remove_tree(ds, staging)  # leftovers of an earlier attempt of this run
    old = existing_files(ds, path)
    if old and not overwrite:
        raise DatastoreError(f"Output {ds.name}:{path} already holds {len(old)} file(s) and "
                             "the output was declared with overwrite=False. Choose another "
                             "path, or use as_upload(overwrite=True).")
    skipped: list[str] = []
    files = walk_files(local, contain=True, skipped=skipped) if local.is_dir() else []
    result = upload(ds, [(full, f"{staging}/{rel}") for full, rel in files], overwrite=True,
                    show_progress=False)
    manifest: dict[str, Any] = {"format": 1, "run_id": run_id, "datastore": ds.name, "path": path,
                "committed_at": time.time(), "bytes": result.bytes, "files": []}
    if ds.backend.atomic_dir_rename:
        _commit_by_rename(ds, staging, path, manifest)
    else:
        _commit_by_markers(ds, staging, path, sorted(rel for _, rel in files), old, manifest)
    remove_tree(ds, f"{STAGING_DIR}/{run_id}")
    summary = {k: manifest[k] for k in ("datastore", "path", "bytes")} | {
        "files": len(manifest["files"]), "manifest": posixpath.join(path, MANIFEST)}
    if skipped:
        summary["skipped_links"] = skipped
    return summary


def _final_files(ds: Datastore, full: str) -> list[dict[str, Any]]:
    tree = ds.backend.tree(ds.fs, full)
    return [{"path": r, "size": s.size, "etag": s.etag, "md5": s.md5}
            for r, s in sorted(tree.items()) if not is_internal(r)]


def _commit_by_rename(ds: Datastore, staging: str, path: str, manifest: dict[str, Any]) -> None:
    stage_dir, target = ds.full_path(staging), ds.full_path(path)
    os.makedirs(stage_dir, exist_ok=True)
    manifest["files"] = _final_files(ds, stage_dir)
    Path(stage_dir, MANIFEST).write_text(json.dumps(manifest, indent=1))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if os.path.lexists(target):
        old = f"{stage_dir}.old"
        os.rename(target, old)
        os.rename(stage_dir, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(stage_dir, target)


def _commit_by_markers(ds: Datastore, staging: str, path: str, rels: list[str],
                       old: dict[str, Any], manifest: dict[str, Any]) -> None:
    fs, target = ds.fs, ds.full_path(path)
    marker = posixpath.join(target, COMMITTING)
    fs.pipe_file(marker, json.dumps({"run_id": manifest["run_id"],
                                     "started": time.time()}).encode())
    new = set(rels)
    ds.backend.delete_files(fs, [s.path for r, s in old.items() if r not in new])
    ds.backend.move_files(fs, [(ds.full_path(f"{staging}/{r}"), posixpath.join(target, r))
                               for r in rels])
    ds.backend.after_writes(fs, target)
    manifest["files"] = _final_files(ds, target)
    fs.pipe_file(posixpath.join(target, MANIFEST), json.dumps(manifest, indent=1).encode())
    fs.rm_file(marker)
    ds.backend.after_writes(fs, target)


def remove_tree(ds: Datastore, rel: str) -> None:
    full = ds.full_path(rel)
    try:
        if ds.fs.exists(full):
            ds.fs.rm(full, recursive=True)
    except FileNotFoundError:
        pass


def _remove_settled(ds: Datastore, rel: str, attempts: int = 5, pause: float = 0.3) -> None:
    """Remove ``rel`` until it stays gone: a killed client's last requests may still land."""
    for _ in range(attempts):
        remove_tree(ds, rel)
        time.sleep(pause)
        ds.fs.invalidate_cache()
        if not ds.fs.exists(ds.full_path(rel)):
            return


# the child process and its driver ---------------------------------------------------------
def commit_outputs(outputs: list[dict[str, Any]], run_id: str) -> list[dict[str, Any]]:
    """Commit outputs in a child process; a failure or kill raises with the reason."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [PACKAGE_ROOT, env.get("PYTHONPATH")]))
    proc = subprocess.Popen([sys.executable, "-m", "cumulus.datastores._commit", run_id],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    out, err = proc.communicate(json.dumps({"outputs": outputs}).encode())
    done = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    if proc.returncode == 0:
        return done
    if proc.returncode < 0:
        why = (f"the upload process was killed by "
               f"{signal.Signals(-proc.returncode).name}")
    else:
        lines = [x for x in err.decode(errors="replace").splitlines() if x.strip()]
        why = lines[-1] if lines else f"the upload process exited with {proc.returncode}"
    raise DatastoreError(_failure_message(outputs[len(done):], run_id, why))


def _failure_message(pending: list[dict[str, Any]], run_id: str, why: str) -> str:
    from cumulus.datastores._datastore import Datastore

    parts = []
    for spec in pending:
        ds = Datastore(None, spec["name"], spec["url"], spec["definition"])
        where = f"{ds.name}:{spec['path']}"
        try:
            _remove_settled(ds, f"{STAGING_DIR}/{run_id}")
            half = ds.fs.exists(posixpath.join(ds.full_path(spec["path"]), COMMITTING))
        except Exception:
            half = False
        parts.append(f"{where} was left incomplete (readers refuse it until it is rewritten)"
                     if half else f"nothing was committed at {where}")
    return f"Uploading run outputs failed: {why}; " + "; ".join(parts) + "."


def main() -> int:
    from cumulus.datastores._datastore import Datastore

    run_id = sys.argv[1]
    spec = json.loads(sys.stdin.read())
    for out in spec["outputs"]:
        ds = Datastore(None, out["name"], out["url"], out["definition"])
        try:
            summary = commit_output(ds, Path(out["local"]), out["path"], run_id,
                                    overwrite=out["overwrite"])
        except Exception as exc:
            text = str(exc) if isinstance(exc, DatastoreError) else \
                f"{type(exc).__name__}: {exc}"
            print(f"{ds.name}:{out['path']}: {ds.redact(text)}", file=sys.stderr)
            return 2
        print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
