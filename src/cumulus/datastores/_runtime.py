"""Data paths at run time on a node: resolve placeholders, materialize inputs, commit outputs.

The executor calls :func:`prepare_data` while the run is ``Preparing``; every data path in the
run's arguments becomes a local path (download: hard links from the node cache; mount: a
read-only FUSE mount; upload: an empty folder) or, for direct access, the URL. Each also sets
``CUMULUS_INPUT_<NAME>`` / ``CUMULUS_OUTPUT_<NAME>``; a direct input adds
``CUMULUS_INPUT_<NAME>_OPTIONS`` (JSON, credential references only). A missing input fails the
run here, before the script starts. On success, :meth:`RunData.finalize` commits the outputs
atomically (see :mod:`._commit`).

Example::

    data = prepare_data(ws, run_id, definition, run_dir)
    argv = [data.resolve(a) for a in definition["arguments"]]
    ...
    data.finalize(success=True); data.cleanup()
"""

from __future__ import annotations

import json
import posixpath
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cumulus.datastores._datapath import DataPath
from cumulus.errors import DatastoreError, ValidationError

if TYPE_CHECKING:
    from cumulus.datastores._datastore import Datastore
    from cumulus.datastores._mount import Mount


@dataclass
class RunData:
    """Inputs and outputs of one run on this node."""

    ws: Any
    run_id: str
    run_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    resolved: dict[str, str] = field(default_factory=dict)
    outputs: list[tuple[DataPath, Path]] = field(default_factory=list)
    mounts: list[Mount] = field(default_factory=list)
    _cleanups: list[Callable[[], None]] = field(default_factory=list)

    def resolve(self, arg: Any) -> Any:
        """An argument with any data path replaced by its local path (or URL)."""
        if isinstance(arg, dict) and "__datapath__" in arg:
            return self._materialize(DataPath.from_dict(arg["__datapath__"]))
        return arg

    def _materialize(self, dp: DataPath) -> str:
        key = json.dumps(dp.to_dict(), sort_keys=True)
        if key not in self.resolved:
            from cumulus.datastores._datastore import Datastore

            ds = Datastore.get(self.ws, dp.datastore)
            handler = {"direct": self._direct, "download": self._download,
                       "mount": self._mount, "upload": self._output}[dp.mode]
            self.resolved[key] = handler(dp, ds)
            self.env[dp.env_name] = self.resolved[key]
        return self.resolved[key]

    # modes -------------------------------------------------------------------------------
    def _direct(self, dp: DataPath, ds: Datastore) -> str:
        _require_input(ds, dp)
        url = posixpath.join(ds.url.rstrip("/"), dp.path_on_datastore) \
            if dp.path_on_datastore else ds.url
        options = ds.storage_options_public()
        self.env[dp.env_name + "_OPTIONS"] = json.dumps({
            "datastore": ds.name, "url": ds.url, "path": dp.path_on_datastore,
            "definition": ds.definition, "storage_options": options})
        self._log(f"input {_where(dp)} (direct): {url}")
        return url

    def _download(self, dp: DataPath, ds: Datastore) -> str:
        from cumulus.datastores._cache import ContentCache

        local = self._local(dp, "inputs")
        stats = ContentCache().materialize(ds, dp.path_on_datastore, local)
        self._log(f"input {_where(dp)} (download) -> {local}: {stats}")
        return str(local)

    def _mount(self, dp: DataPath, ds: Datastore) -> str:
        from cumulus.datastores._mount import Mount

        info = _require_input(ds, dp)
        is_file = info.get("type") == "file"
        path = posixpath.dirname(dp.path_on_datastore) if is_file else dp.path_on_datastore
        mountpoint = self.run_dir / "mounts" / str(len(self.mounts))
        mount = Mount(ds, path, mountpoint)
        mount.start()
        self.mounts.append(mount)
        local = mountpoint / posixpath.basename(dp.path_on_datastore) if is_file else mountpoint
        self._log(f"input {_where(dp)} (mount, read-only) -> {local}")
        return str(local)

    def _output(self, dp: DataPath, ds: Datastore) -> str:
        from cumulus.datastores._commit import existing_files

        if not dp.overwrite and existing_files(ds, dp.path_on_datastore):
            raise DatastoreError(
                f"Output {_where(dp)} already exists and was declared with overwrite=False. "
                "Choose another path, or use as_upload(overwrite=True).")
        local = self._local(dp, "outputs_data")
        local.mkdir(parents=True, exist_ok=True)
        self.outputs.append((dp, local))
        return str(local)

    def _local(self, dp: DataPath, folder: str) -> Path:
        if dp.path_on_compute:
            return self.run_dir / dp.path_on_compute  # an absolute path replaces run_dir
        return self.run_dir / folder / dp.datastore / (dp.path_on_datastore or "_root")

    # end of run --------------------------------------------------------------------------
    def finalize(self, success: bool) -> None:
        """Commit every output when the script succeeded (raises DatastoreError if not)."""
        if not self.outputs:
            return
        if not success:
            self._log("outputs not uploaded: the run did not succeed")
            return
        from cumulus.datastores._commit import commit_outputs
        from cumulus.datastores._datastore import Datastore

        specs = []
        for dp, local in self.outputs:
            ds = Datastore.get(self.ws, dp.datastore)
            specs.append({"name": ds.name, "url": ds.url, "definition": ds.definition,
                          "local": str(local), "path": dp.path_on_datastore,
                          "overwrite": dp.overwrite})
        summaries = commit_outputs(specs, self.run_id)
        for s in summaries:
            self._log(f"output {s['datastore']}:{s['path']}: committed {s['files']} file(s), "
                      f"{s['bytes']} bytes; manifest {s['manifest']}")
            for link in s.get("skipped_links") or ():
                self._log(f"output {s['datastore']}:{s['path']}: left out {link}: a link "
                          "leading outside the output folder is never followed")
        self.ws.store.merge_run_dict(self.run_id, "properties", {"cumulus.outputs": summaries})

    def cleanup(self) -> None:
        """Unmount and drop the run's input links (the node cache keeps the data)."""
        for fn in reversed(self._cleanups):
            fn()
        while self.mounts:
            self.mounts.pop().stop()
        shutil.rmtree(self.run_dir / "inputs", ignore_errors=True)

    def _log(self, text: str) -> None:
        self.ws.store.append_log(self.run_id, f"[cumulus] {text}\n")


def prepare_data(ws: Any, run_id: str, definition: dict[str, Any], run_dir: Path) -> RunData:
    """Materialize every data path named in the run's definition before the script starts."""
    data = RunData(ws=ws, run_id=run_id, run_dir=run_dir)
    try:
        for arg in _data_args(definition):
            data.resolve(arg)
    except BaseException:
        data.cleanup()
        raise
    return data


def validate_data_paths(ws: Any, definition: dict[str, Any]) -> None:
    """Check a run's data paths at submission: datastores exist and can serve runs."""
    from cumulus.datastores._datastore import Datastore

    names: dict[str, DataPath] = {}
    for arg in _data_args(definition):
        dp = DataPath.from_dict(arg["__datapath__"])
        ds = Datastore.get(ws, dp.datastore)
        if ds.backend.protocol == "memory":
            raise ValidationError(
                f"Data path {_where(dp)} is on a memory:// datastore, which lives inside one "
                "process; runs on compute nodes cannot see it. Use a folder (file://) or "
                "blob datastore.")
        if dp.is_output and not dp.path_on_datastore:
            raise ValidationError(f"Output {_where(dp)} names the datastore root; give a "
                                  "folder, e.g. ds.path('outputs/model').as_upload().")
        other = names.setdefault(dp.env_name, dp)
        if other != dp and other.to_dict() != dp.to_dict():
            raise ValidationError(
                f"Data paths {_where(other)} and {_where(dp)} would both set {dp.env_name}; "
                "give one a name with .named('NAME').")


def has_data_paths(definition: dict[str, Any]) -> bool:
    """Whether a run's definition names a data path (an input or output to prepare)."""
    return next(_data_args(definition), None) is not None


def _data_args(definition: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for arg in [*(definition.get("arguments") or []), *(definition.get("command") or []),
                *(definition.get("inputs") or [])]:
        if isinstance(arg, dict) and "__datapath__" in arg:
            yield arg


def _require_input(ds: Datastore, dp: DataPath) -> dict[str, Any]:
    """The input's info; a clear error naming the path when it does not exist."""
    from cumulus.datastores._transfer import COMMITTING

    full = ds.full_path(dp.path_on_datastore)
    try:
        info: dict[str, Any] = ds.fs.info(full)
    except FileNotFoundError:
        info = {}
    if not info or (info.get("type") == "directory" and not ds.fs.ls(full)):
        raise DatastoreError(f"Input {_where(dp)} does not exist on the datastore (looked for "
                             f"{full!r}). Upload it first, or fix the path.")
    if info.get("type") == "directory" and ds.fs.exists(posixpath.join(full, COMMITTING)):
        raise DatastoreError(f"Input {_where(dp)} is incomplete: a run is committing an "
                             "output there, or was killed while doing so. Re-run that step.")
    return info


def _where(dp: DataPath) -> str:
    return f"{dp.datastore}:{dp.path_on_datastore or '/'}"
