"""Model: a versioned entry in the workspace's model registry.

Example::

    model = Model.register(ws, model_path="outputs/model.pkl", model_name="digits",
                           tags={"algo": "svm"})
    model = run.register_model("digits", "outputs/model.pkl")     # linked to the run
    latest = Model(ws, "digits")                                  # newest version
    Model.list(ws, name="digits", tags={"algo": "svm"})
    latest.download(target_dir=".")                              # ./model.pkl
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cumulus.errors import ModelNotFoundError, ValidationError
from cumulus.models import _content

if TYPE_CHECKING:
    from cumulus.datastores import DataPath
    from cumulus.models._config import DeploymentConfig, InferenceConfig
    from cumulus.models._image import ModelPackage
    from cumulus.models._service import Webservice
    from cumulus.run import Run
    from cumulus.workspace import Workspace

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")
RUN_PROPERTY = "registered_models"


class ModelInUseError(ValidationError):
    """A model version cannot be deleted while a service uses it."""


def check_name(name: Any, what: str = "model_name") -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValidationError(f"{what} {name!r} is invalid: use 1-255 letters, digits, '-', "
                              "'_' or '.', starting with a letter or digit.")
    return name


def _check_dict(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ValidationError(f"{what} must be a dict of str -> value, got {value!r}.")
    return dict(value)


class Model:
    """One registered version of a model (a file or folder stored by content on a datastore).

    Example::

        m = Model(ws, "digits", version=2)
        print(m.id, m.tags, m.run_id)     # digits:2 {...} digits_17...
    """

    def __init__(self, workspace: Workspace, name: str, version: int | None = None, *,
                 _record: dict[str, Any] | None = None) -> None:
        self.workspace = workspace
        rec = _record if _record is not None else _load(workspace, name, version)
        self.name: str = rec["name"]
        self.version: int = rec["version"]
        self.location: str = rec["location"]
        self.digest: str = rec["digest"] or ""
        self.tags: dict[str, Any] = dict(rec["tags"] or {})
        self.properties: dict[str, Any] = dict(rec["properties"] or {})
        self.description: str | None = rec["description"]
        self.run_id: str | None = rec["run_id"]
        self.created_time: datetime = rec["created_at"]

    # identity -----------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return f"{self.name}:{self.version}"

    def __repr__(self) -> str:
        return f"Model(name={self.name!r}, version={self.version}, run_id={self.run_id!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Model) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "id": self.id,
                "location": self.location, "digest": self.digest, "tags": self.tags,
                "properties": self.properties, "description": self.description,
                "run_id": self.run_id, "created_time": self.created_time.isoformat()}

    @property
    def run(self) -> Run | None:
        """The run that produced this version, if it was registered from one."""
        if not self.run_id:
            return None
        from cumulus.run import Run

        return Run._get(self.workspace, self.run_id)

    # registration -------------------------------------------------------------------------
    @classmethod
    def register(cls, workspace: Workspace, model_path: str | os.PathLike[str] | DataPath,
                 model_name: str, tags: dict[str, Any] | None = None,
                 properties: dict[str, Any] | None = None, description: str | None = None,
                 ) -> Model:
        """Register a file or folder (local, a DataPath, or ``datastore://name/path``)."""
        check_name(model_name)
        tags, properties = _check_dict(tags, "tags"), _check_dict(properties, "properties")
        with _local_copy(workspace, model_path) as local:
            content = _content.scan(local)
            location = _content.store_content(workspace, content)
        return cls._insert(workspace, model_name, location, content.digest, tags,
                           {**properties, "files": len(content.files),
                            "bytes": content.total_bytes}, description, None)

    @classmethod
    def _register_from_run(cls, run: Run, model_name: str, model_path: str,
                           tags: dict[str, Any] | None = None,
                           properties: dict[str, Any] | None = None,
                           description: str | None = None) -> Model:
        """Register a file or folder the run produced (``outputs/model.pkl``, ``outputs/m``)."""
        check_name(model_name)
        tags, properties = _check_dict(tags, "tags"), _check_dict(properties, "properties")
        ws = run.workspace
        with tempfile.TemporaryDirectory(prefix="cumulus-model-") as tmp:
            local = _download_run_path(run, model_path, Path(tmp))
            content = _content.scan(local)
            location = _content.store_content(ws, content)
        model = cls._insert(ws, model_name, location, content.digest, tags,
                            {**properties, "files": len(content.files),
                             "bytes": content.total_bytes, "run_path": model_path},
                            description, run.id)
        _link_run(ws, run.id, model.id)
        return model

    @classmethod
    def _insert(cls, ws: Workspace, name: str, location: str, digest: str,
                tags: dict[str, Any], properties: dict[str, Any], description: str | None,
                run_id: str | None) -> Model:
        rec = ws.store.models.insert(name, location=location, digest=digest, tags=tags,
                                     properties=properties, description=description,
                                     run_id=run_id)
        return cls(ws, name, _record=rec)

    # queries -------------------------------------------------------------------------------
    @classmethod
    def list(cls, workspace: Workspace, name: str | None = None,
             tags: dict[str, Any] | Sequence[str] | None = None,
             properties: dict[str, Any] | None = None, run_id: str | None = None,
             latest: bool = False) -> list[Model]:
        """Versions matching every filter, newest first; ``tags`` as {k: v} (v None = any
        value) or a list of keys; ``latest`` keeps the newest version per name."""
        records = workspace.store.models.query(name, run_id)
        want_tags = _filter_spec(tags, "tags")
        want_props = _filter_spec(properties, "properties")
        out, seen = [], set()
        for rec in records:
            if not (_matches(rec["tags"], want_tags) and _matches(rec["properties"], want_props)):
                continue
            if latest and rec["name"] in seen:
                continue
            seen.add(rec["name"])
            out.append(cls(workspace, rec["name"], _record=rec))
        return out

    # content --------------------------------------------------------------------------------
    def download(self, target_dir: str | os.PathLike[str] = ".", exist_ok: bool = False) -> str:
        """Copy the model into ``target_dir``; returns the path of the file or folder."""
        target = Path(target_dir)
        with tempfile.TemporaryDirectory(prefix=".cumulus-dl-", dir=_mkdir(target)) as tmp:
            tops = _content.fetch_to(self.workspace, self.location, Path(tmp))
            for top in tops:
                dest = target / top
                if dest.exists() and not exist_ok:
                    raise ValidationError(f"{dest} exists already; pass exist_ok=True to "
                                          "replace it, or choose another target_dir.")
                if dest.is_dir():
                    shutil.rmtree(dest)
                os.replace(Path(tmp) / top, dest)
        return str(target / tops[0]) if len(tops) == 1 else str(target)

    # tags -------------------------------------------------------------------------------------
    def add_tags(self, tags: dict[str, Any]) -> None:
        self._update(tags={**self.tags, **_check_dict(tags, "tags")})

    def remove_tags(self, keys: Iterable[str]) -> None:
        drop = set(keys)
        self._update(tags={k: v for k, v in self.tags.items() if k not in drop})

    def _update(self, **values: Any) -> None:
        if not self.workspace.store.models.update(self.name, self.version, **values):
            raise ModelNotFoundError(self.id)
        for k, v in values.items():
            setattr(self, k, v)

    # deletion ----------------------------------------------------------------------------------
    def delete(self) -> None:
        """Delete this version; refused while a service uses it. Content shared with another
        version (same bytes) is kept."""
        users = services_using(self.workspace, self.name, self.version)
        if users:
            raise ModelInUseError(
                f"Model {self.id} is used by service(s) {', '.join(map(repr, users))}. Delete "
                "them first (svc.delete() or `cumulus model delete --service NAME`), or update "
                "them to another version with svc.update(models=[...]).")
        existed, shared = self.workspace.store.models.delete(self.name, self.version)
        if not existed:
            raise ModelNotFoundError(self.id)
        if not shared:
            _content.delete_content(self.workspace, self.location)

    # deployment (implemented in _service / _image) ----------------------------------------------
    @staticmethod
    def deploy(workspace: Workspace, name: str, models: Sequence[Model],
               inference_config: InferenceConfig, deployment_config: DeploymentConfig | None = None,
               overwrite: bool = False) -> Webservice:
        """Deploy ``models`` as web service ``name``; see :class:`Webservice`."""
        from cumulus.models._service import deploy

        return deploy(workspace, name, models, inference_config, deployment_config,
                      overwrite=overwrite)

    @staticmethod
    def package(workspace: Workspace, models: Sequence[Model], inference_config: InferenceConfig,
                image_name: str | None = None, *, base_image: str | None = None,
                docker_url: str | None = None, show_output: bool = False) -> ModelPackage:
        """Build a Docker image that serves ``models`` (see :class:`ModelPackage`)."""
        from cumulus.models._image import package

        return package(workspace, list(models), inference_config, image_name=image_name,
                       base_image=base_image, docker_url=docker_url, show_output=show_output)


# helpers -------------------------------------------------------------------------------------
def _load(ws: Workspace, name: str, version: int | None) -> dict[str, Any]:
    if isinstance(name, str) and ":" in name and version is None:
        name, _, v = name.partition(":")
        version = int(v) if v.isdigit() else None
    repo = ws.store.models
    rec = repo.get(name, int(version) if version is not None else None)
    if rec is not None:
        return rec
    known, versions = repo.names(), repo.versions(name)
    if versions:
        raise ModelNotFoundError(f"{name}:{version}", hint=f"Versions of {name!r}: "
                                 f"{', '.join(map(str, versions))}.")
    raise ModelNotFoundError(name, known, hint="Register it with Model.register(ws, path, name) "
                             "or run.register_model(name, path).")


def _mkdir(path: Path) -> str:
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


def _filter_spec(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, (list, tuple)):
        out: dict[str, Any] = {}
        for item in value:
            if isinstance(item, str):
                out[item] = None
            elif isinstance(item, (list, tuple)) and len(item) == 2:
                out[str(item[0])] = item[1]
            else:
                raise ValidationError(f"{what} filter item {item!r} must be a key or a "
                                      "[key, value] pair.")
        return out
    raise ValidationError(f"{what} filter must be a dict or a list of keys, got {value!r}.")


def _matches(have: dict[str, Any] | None, want: dict[str, Any]) -> bool:
    have = have or {}
    return all(k in have and (v is None or have[k] == v or str(have[k]) == str(v))
               for k, v in want.items())


class _local_copy:
    """Context manager: a local path for a model source (downloads datastore sources)."""

    def __init__(self, ws: Workspace, source: Any) -> None:
        self.ws, self.source = ws, source
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> Path:
        from cumulus.datastores import DataPath, Datastore

        src = self.source
        if isinstance(src, str) and src.startswith(_content.SCHEME):
            name, rel = _content.parse_location(src)
            src = DataPath(name, rel)
        if not isinstance(src, DataPath):
            if not isinstance(src, (str, os.PathLike)):
                raise ValidationError(f"model_path must be a path, a DataPath or "
                                      f"'datastore://name/path', got {type(src).__name__}.")
            return Path(src)
        ds = Datastore.get(self.ws, src.datastore)
        remote = ds.full_path(src.path_on_datastore)
        if not src.path_on_datastore or not ds.fs.exists(remote):
            raise ValidationError(f"model_path {src.path_on_datastore!r} does not exist on "
                                  f"datastore {ds.name!r} ({remote}).")
        self._tmp = tempfile.TemporaryDirectory(prefix="cumulus-model-")
        local = Path(self._tmp.name) / Path(src.path_on_datastore.rstrip("/")).name
        if ds.fs.isdir(remote):
            ds.fs.get(remote.rstrip("/") + "/", str(local), recursive=True)
        else:
            ds.fs.get_file(remote, str(local))
        return local

    def __exit__(self, *exc: object) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()


def _download_run_path(run: Run, model_path: str, tmp: Path) -> Path:
    """Download the run file ``model_path`` (or every file under it) into ``tmp``."""
    from cumulus.datastores import check_relative

    rel = check_relative(model_path)
    names = run.get_file_names()
    wanted = [n for n in names if n == rel or n.startswith(rel + "/")]
    if not rel or not wanted:
        from cumulus.errors import did_you_mean

        shown = ", ".join(repr(n) for n in names[:20]) or "(none)"
        raise ValidationError(
            f"Run {run.id} has no file or folder {model_path!r}.{did_you_mean(rel, names)} "
            f"Its files: {shown}. Register a path the run wrote under ./outputs, e.g. "
            "'outputs/model.pkl'.")
    base = rel.rsplit("/", 1)[0] + "/" if "/" in rel else ""
    for name in wanted:
        run.download_file(name, tmp / name[len(base):])
    return tmp / rel[len(base):]


def _link_run(ws: Workspace, run_id: str, model_id: str) -> None:
    """Lineage on the run side: its ``registered_models`` property lists the versions."""
    ws.store.models.append_run_property(run_id, RUN_PROPERTY, model_id)


def services_using(ws: Workspace, name: str, version: int) -> list[str]:
    rows = ws.store.models.service_models()
    return sorted(svc for svc, models in rows
                  if any(x.get("name") == name and int(x.get("version", -1)) == version
                         for x in models or []))
