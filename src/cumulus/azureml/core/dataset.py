"""``azureml.core.dataset``: File and Tabular datasets over datastore paths.

A dataset is a path on a Cumulus datastore (``(datastore, 'folder/')``, a ``DataPath`` or a
datastore URL). ``as_mount()`` / ``as_download()`` / ``as_named_input(name)`` give native
data paths for run arguments; ``register(ws, name)`` keeps a versioned record in the store
(``Dataset.get_by_name``); ``to_pandas_dataframe()`` reads delimited files with pandas.
Inside a script, ``Run.get_context().input_datasets[name]`` is a :class:`LocalDataset` over the
node's copy.
"""

from __future__ import annotations

import json
import posixpath
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cumulus._hashing import text_digest
from cumulus.datastores import DataPath
from cumulus.errors import NotFoundError, ValidationError


def _datapath(ws: Any, path: Any) -> DataPath:
    """One native data path from what the SDK accepts as a dataset path."""
    if isinstance(path, DataPath):
        return path
    if isinstance(path, tuple) and len(path) == 2:
        store, rel = path
        name = store if isinstance(store, str) else store.name
        return DataPath(name, str(rel).strip("/"))
    if hasattr(path, "_cumulus_argument"):
        return path._cumulus_argument()
    if isinstance(path, str) and ws is not None:
        for ds in ws.datastores.values():
            root = ds.url.rstrip("/") + "/"
            if path.startswith(root) or path.rstrip("/") == root.rstrip("/"):
                return DataPath(ds.name, path[len(root):].strip("/"))
    raise ValidationError(
        f"A dataset path must be (datastore, 'path'), datastore.path('path') or the URL of a "
        f"registered datastore, got {path!r:.120}. Register the storage first: "
        "Datastore.register_azure_blob_container(...) or cumulus.Datastore.register(...).")


def _paths(ws: Any, path: Any) -> list[DataPath]:
    items = path if isinstance(path, list) else [path]
    if not items:
        raise ValidationError("A dataset needs at least one path.")
    return [_datapath(ws, p) for p in items]


class _Dataset:
    """What File and Tabular datasets share: paths, registration, consumption."""

    _type = "file"

    def __init__(self, paths: list[DataPath], workspace: Any = None,
                 options: dict[str, Any] | None = None) -> None:
        self._paths = paths
        self._ws = workspace
        self._options = dict(options or {})
        self.name: str | None = None
        self.version: int | None = None
        self.description: str | None = None
        self.tags: dict[str, Any] = {}

    @property
    def id(self) -> str:
        return f"{self.name}:{self.version}" if self.name else self._digest()

    def _digest(self) -> str:
        return text_digest(json.dumps(self._definition(), sort_keys=True), 24)

    def _definition(self) -> dict[str, Any]:
        return {"type": self._type, "paths": [p.to_dict() for p in self._paths],
                "options": self._options}

    # registry -----------------------------------------------------------------------------
    def register(self, workspace: Any, name: str, description: str | None = None,
                 tags: dict[str, Any] | None = None, create_new_version: bool = False) -> Any:
        repo = workspace.store.datasets
        latest = repo.get(name)
        if latest is not None and not create_new_version and \
                latest.hash != self._digest():
            raise ValidationError(
                f"Dataset {name!r} is registered already with other paths (version "
                f"{latest.version}). Pass create_new_version=True to add a version.")
        doc = {**self._definition(), "description": description, "tags": dict(tags or {})}
        rec = repo.register(name, self._digest(), doc)
        return _from_record(workspace, rec)

    @staticmethod
    def get_by_name(workspace: Any, name: str, version: int | str = "latest") -> Any:
        repo = workspace.store.datasets
        rec = repo.get(name, None if version in (None, "latest") else int(version))
        if rec is None:
            raise NotFoundError(f"dataset {name}", repo.names(),
                                hint="Register it with dataset.register(ws, name).")
        return _from_record(workspace, rec)

    @staticmethod
    def get_by_id(workspace: Any, id: str) -> Any:
        name, _, version = id.partition(":")
        return _Dataset.get_by_name(workspace, name, version or "latest")

    def unregister_all_versions(self) -> None:
        from cumulus.azureml._compat import azure_only

        azure_only("unregister_all_versions", self.name, "versions are kept in the store")

    # consumption --------------------------------------------------------------------------
    def _one(self) -> DataPath:
        if len(self._paths) != 1:
            raise ValidationError(f"This dataset has {len(self._paths)} paths; a run input "
                                  "takes one folder or file. Put the files under one folder.")
        dp = self._paths[0]
        return dp.named(self.name.replace("-", "_")) if self.name and not dp.name else dp

    def as_named_input(self, name: str) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(name, self, "download")

    def as_mount(self, path_on_compute: str | None = None) -> DataPath:
        return self._one().as_mount()

    def as_download(self, path_on_compute: str | None = None) -> DataPath:
        return self._one().as_download(path_on_compute)

    def _cumulus_argument(self) -> DataPath:
        return self._one().as_download()

    def _files(self) -> list[tuple[Any, str]]:
        """(datastore, datastore-relative file) for every file of the dataset."""
        from cumulus.datastores import Datastore

        out = []
        for dp in self._paths:
            ds = Datastore.get(self._workspace(), dp.datastore)
            files = ds.list_files(dp.path_on_datastore)
            if not files and ds.exists(dp.path_on_datastore):
                files = {dp.path_on_datastore: None}  # type: ignore[dict-item]
            out += [(ds, rel) for rel in sorted(files)]
        return out

    def _workspace(self) -> Any:
        if self._ws is None:
            from cumulus.azureml.core.workspace import Workspace

            self._ws = Workspace.from_config()
        return self._ws

    def to_path(self) -> list[str]:
        """The files, as paths relative to the dataset's root."""
        out = []
        for dp in self._paths:
            base = dp.path_on_datastore.rstrip("/")
            for ds, rel in self._files():
                if ds.name == dp.datastore:
                    out.append("/" + (posixpath.relpath(rel, base) if base and rel != base
                                      else posixpath.basename(rel)))
        return out

    def download(self, target_path: str | None = None, overwrite: bool = False,
                 ignore_not_found: bool = False) -> list[str]:
        target = Path(target_path or tempfile.mkdtemp(prefix="dataset-"))
        written = []
        for (ds, rel), local in zip(self._files(), self.to_path(), strict=True):
            dest = target / local.lstrip("/")
            if dest.exists() and not overwrite:
                raise ValidationError(f"{dest} exists; pass overwrite=True to replace it.")
            dest.parent.mkdir(parents=True, exist_ok=True)
            ds.fs.get(ds.full_path(rel), str(dest))
            written.append(str(dest))
        return written

    @contextmanager
    def mount(self, mount_point: str | None = None, **_: Any) -> Iterator[Any]:
        """A local copy for the duration of the block (``with ds.mount() as ctx:``)."""
        folder = Path(mount_point or tempfile.mkdtemp(prefix="dataset-mount-"))
        self.download(str(folder), overwrite=True)
        yield _MountContext(str(folder))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, paths={self._paths})"


class _MountContext:
    def __init__(self, mount_point: str) -> None:
        self.mount_point = mount_point

    def start(self) -> None: ...

    def stop(self) -> None: ...


class FileDataset(_Dataset):
    _type = "file"

    def skip(self, count: int) -> FileDataset:
        return self

    def take(self, count: int) -> FileDataset:
        return self


class TabularDataset(_Dataset):
    """Delimited (CSV) or Parquet files read as one table."""

    _type = "tabular"

    def to_pandas_dataframe(self, on_error: str = "null", out_of_range_datetime: str = "null",
                            ) -> Any:
        import pandas as pd

        frames = []
        for ds, rel in self._files():
            with ds.fs.open(ds.full_path(rel), "rb") as fh:
                frames.append(_read(fh, rel, self._options))
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        keep, drop = self._options.get("keep"), self._options.get("drop")
        if keep:
            frame = frame[keep]
        if drop:
            frame = frame.drop(columns=drop)
        if self._options.get("take"):
            frame = frame.head(self._options["take"])
        return frame

    def _with(self, **options: Any) -> TabularDataset:
        return TabularDataset(self._paths, self._ws, {**self._options, **options})

    def keep_columns(self, columns: str | list[str], validate: bool = False) -> TabularDataset:
        return self._with(keep=[columns] if isinstance(columns, str) else list(columns))

    def drop_columns(self, columns: str | list[str]) -> TabularDataset:
        return self._with(drop=[columns] if isinstance(columns, str) else list(columns))

    def take(self, count: int) -> TabularDataset:
        return self._with(take=int(count))

    def random_split(self, percentage: float, seed: int | None = None) -> tuple[Any, Any]:
        frame = self.to_pandas_dataframe()
        first = frame.sample(frac=percentage, random_state=seed)
        return _FrameDataset(first), _FrameDataset(frame.drop(first.index))

    def to_csv_files(self, separator: str = ",") -> FileDataset:
        return FileDataset(self._paths, self._ws)


class _FrameDataset:
    """An in-memory split of a tabular dataset."""

    def __init__(self, frame: Any) -> None:
        self._frame = frame

    def to_pandas_dataframe(self) -> Any:
        return self._frame


def _read(fh: Any, rel: str, options: dict[str, Any]) -> Any:
    import pandas as pd

    if rel.endswith(".parquet"):
        return pd.read_parquet(fh)
    header = 0 if options.get("header", True) not in (False, "NO_HEADERS", 0) else None
    return pd.read_csv(fh, sep=options.get("separator", ","), header=header)


class DatasetConsumptionConfig:
    """A dataset consumed by a run under ``name`` (``ds.as_named_input('train')``)."""

    def __init__(self, name: str, dataset: _Dataset, mode: str = "download",
                 path_on_compute: str | None = None) -> None:
        self.name, self.dataset, self.mode = name, dataset, mode
        self.path_on_compute = path_on_compute

    def as_mount(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(self.name, self.dataset, "mount", path_on_compute)

    def as_download(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(self.name, self.dataset, "download", path_on_compute)

    def _cumulus_argument(self) -> DataPath:
        dp = self.dataset._one().named(self.name.replace("-", "_"))
        return dp.as_mount() if self.mode == "mount" else dp.as_download(self.path_on_compute)


class LocalDataset:
    """Inside a script: a named input's local copy, read as the SDK's datasets are."""

    def __init__(self, path: str) -> None:
        self.path = path

    def _files(self) -> list[Path]:
        p = Path(self.path)
        return sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]

    def to_pandas_dataframe(self) -> Any:
        import pandas as pd

        frames = []
        for f in self._files():
            with open(f, "rb") as fh:
                frames.append(_read(fh, f.name, {}))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def to_path(self) -> list[str]:
        base = Path(self.path)
        return ["/" + (f.relative_to(base).as_posix() if base.is_dir() else f.name)
                for f in self._files()]

    def download(self, target_path: str | None = None, overwrite: bool = False) -> list[str]:
        import shutil

        if target_path is None:
            return [str(f) for f in self._files()]
        out = []
        for f, rel in zip(self._files(), self.to_path(), strict=True):
            dest = Path(target_path) / rel.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, dest)
            out.append(str(dest))
        return out

    @contextmanager
    def mount(self, mount_point: str | None = None) -> Iterator[_MountContext]:
        yield _MountContext(self.path)

    def __fspath__(self) -> str:
        return self.path

    def __str__(self) -> str:
        return self.path


class _FileFactory:
    @staticmethod
    def from_files(path: Any, validate: bool = True, partition_format: str | None = None,
                   is_file: bool = False) -> FileDataset:
        return FileDataset(_paths(None if isinstance(path, tuple | DataPath | list)
                                  else _ws_for_urls(), path))


class _TabularFactory:
    @staticmethod
    def from_delimited_files(path: Any, validate: bool = True, include_path: bool = False,
                             infer_column_types: bool = True, set_column_types: Any = None,
                             separator: str = ",", header: Any = True,
                             partition_format: str | None = None, **_: Any) -> TabularDataset:
        return TabularDataset(_paths(_ws_for_urls() if isinstance(path, str) else None, path),
                              options={"separator": separator, "header": header})

    @staticmethod
    def from_parquet_files(path: Any, validate: bool = True, include_path: bool = False,
                           **_: Any) -> TabularDataset:
        return TabularDataset(_paths(_ws_for_urls() if isinstance(path, str) else None, path))


def _ws_for_urls() -> Any:
    from cumulus.azureml.core.workspace import Workspace

    try:
        return Workspace.from_config()
    except Exception:
        return None


def _from_record(ws: Any, rec: Any) -> _Dataset:
    doc = rec.definition
    cls = TabularDataset if doc.get("type") == "tabular" else FileDataset
    ds = cls([DataPath.from_dict(p) for p in doc.get("paths") or []], ws, doc.get("options"))
    ds.name, ds.version = rec.name, rec.version
    ds.description, ds.tags = doc.get("description"), dict(doc.get("tags") or {})
    return ds


class Dataset:
    """``Dataset.File.from_files(...)``, ``Dataset.Tabular.from_delimited_files(...)``,
    ``Dataset.get_by_name(ws, name)``."""

    File = _FileFactory
    Tabular = _TabularFactory
    get_by_name = staticmethod(_Dataset.get_by_name)
    get_by_id = staticmethod(_Dataset.get_by_id)

    @staticmethod
    def get_all(workspace: Any) -> dict[str, Any]:
        return {n: _Dataset.get_by_name(workspace, n)
                for n in workspace.store.datasets.names()}



__all__ = ["Dataset", "DatasetConsumptionConfig", "FileDataset", "LocalDataset",
           "TabularDataset"]
