"""Data paths at run time on a node: resolve placeholders, materialize inputs, upload outputs."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cumulus.datastores._datapath import DataPath
from cumulus.errors import DatastoreError


@dataclass
class RunData:
    """Inputs and outputs of one run on this node."""

    ws: Any
    run_id: str
    run_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    resolved: dict[str, str] = field(default_factory=dict)
    outputs: list[tuple[DataPath, Path]] = field(default_factory=list)
    _cleanups: list[Callable[[], None]] = field(default_factory=list)

    def resolve(self, arg: Any) -> Any:
        if isinstance(arg, dict) and "__datapath__" in arg:
            return self._materialize(DataPath.from_dict(arg["__datapath__"]))
        return arg

    def _materialize(self, dp: DataPath) -> str:
        key = json.dumps(dp.to_dict(), sort_keys=True)
        if key in self.resolved:
            return self.resolved[key]
        local = self._local(dp)
        self.resolved[key] = local
        name = (dp.name or Path(dp.path_on_datastore).stem or dp.datastore).upper()
        name = "".join(c if c.isalnum() else "_" for c in name)
        prefix = "CUMULUS_OUTPUT_" if dp.is_output else "CUMULUS_INPUT_"
        self.env[prefix + name] = local
        return local

    def _local(self, dp: DataPath) -> str:
        from cumulus.datastores._datastore import Datastore

        ds = Datastore.get(self.ws, dp.datastore)
        if dp.mode == "direct":
            return f"{ds.url.rstrip('/')}/{dp.path_on_datastore}"
        if dp.mode == "upload":
            local = self.run_dir / (dp.path_on_compute or f"outputs_data/{dp.path_on_datastore}")
            local.mkdir(parents=True, exist_ok=True)
            self.outputs.append((dp, local))
            return str(local)
        if dp.mode == "mount":
            raise DatastoreError(f"Mounting {dp.datastore}:{dp.path_on_datastore} is not "
                                 "available on this node; use .as_download() instead.")
        src = ds.full_path(dp.path_on_datastore)
        if not ds.fs.exists(src):
            raise DatastoreError(f"Input {dp.datastore}:{dp.path_on_datastore} does not exist "
                                 "on the datastore; upload it first or fix the path.")
        local = self.run_dir / (dp.path_on_compute or f"inputs/{dp.path_on_datastore}")
        local.parent.mkdir(parents=True, exist_ok=True)
        if ds.fs.isdir(src):
            ds.fs.get(src.rstrip("/") + "/", str(local), recursive=True)
        else:
            ds.fs.get(src, str(local))
        return str(local)

    def finalize(self, success: bool) -> None:
        if not success:
            return
        from cumulus.datastores._datastore import Datastore

        for dp, local in self.outputs:
            ds = Datastore.get(self.ws, dp.datastore)
            target = ds.full_path(dp.path_on_datastore)
            for dirpath, _d, files in os.walk(local):
                for f in files:
                    full = Path(dirpath) / f
                    ds.fs.put_file(str(full), f"{target}/{full.relative_to(local).as_posix()}")

    def cleanup(self) -> None:
        for fn in reversed(self._cleanups):
            fn()
        shutil.rmtree(self.run_dir / "inputs", ignore_errors=True)


def prepare_data(ws: Any, run_id: str, definition: dict[str, Any], run_dir: Path) -> RunData:
    """Materialize every data path named in the run's arguments before the script starts."""
    data = RunData(ws=ws, run_id=run_id, run_dir=run_dir)
    for arg in [*(definition.get("arguments") or []), *(definition.get("command") or []),
                *(definition.get("inputs") or [])]:
        data.resolve(arg)
    return data
