"""A deployable bundle: the entry script's source snapshot, the model files and the spec.

The same bundle layout serves a local process (models linked from the node cache) and an image
build (models copied into the build context)::

    <root>/src/...            the source_directory snapshot
    <root>/models/...         one model: its file/folder; several: one folder per model name
    spec.json                 written next to (or inside) the bundle; paths relative to it

Example::

    source = SourceRef.capture(ws, inference_config)        # snapshot stored on the datastore
    build_bundle(ws, root, models, source, copy_models=False)
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cumulus.errors import ValidationError
from cumulus.models import _content

if TYPE_CHECKING:
    from cumulus.models._config import InferenceConfig
    from cumulus.models._registry import Model
    from cumulus.workspace import Workspace


@dataclass(frozen=True)
class SourceRef:
    """The scoring code of a service: a stored snapshot, the entry script, the environment."""

    snapshot: str
    entry_script: str
    environment: dict[str, Any] | None

    @classmethod
    def capture(cls, ws: Workspace, ic: InferenceConfig) -> SourceRef:
        from cumulus.environment import environment_definition
        from cumulus.snapshot import take_snapshot, upload_snapshot

        snap = take_snapshot(ic.source_root)
        if ic.entry_relpath not in {f[0] for f in snap.files}:
            raise ValidationError(
                f"entry_script {ic.entry_script!r} is excluded from the source snapshot by "
                f".gitignore/.cumulusignore in {ic.source_root}; un-ignore it.")
        upload_snapshot(snap, ws.get_default_datastore())
        return cls(snapshot=snap.digest, entry_script=ic.entry_relpath,
                   environment=environment_definition(ic.environment))

    def to_dict(self) -> dict[str, Any]:
        return {"snapshot": self.snapshot, "entry_script": self.entry_script,
                "environment": self.environment}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SourceRef:
        return cls(snapshot=data["snapshot"], entry_script=data["entry_script"],
                   environment=data.get("environment"))

    @property
    def env_vars(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in ((self.environment or {}).get("env_vars") or {})
                .items()}

    @property
    def pip(self) -> list[str]:
        """The environment's requirements: ``pip`` then those of its requirements file."""
        env = self.environment or {}
        pip = list(env.get("pip") or [])
        return pip + [r for r in env.get("requirements") or [] if r not in pip]


def model_refs(models: list[Model]) -> list[dict[str, Any]]:
    return [{"name": mdl.name, "version": mdl.version, "digest": mdl.digest,
             "location": mdl.location} for mdl in models]


def check_models(models: Any) -> list[Model]:
    from cumulus.models._registry import Model

    if isinstance(models, Model):
        models = [models]
    if not isinstance(models, (list, tuple)) or not models:
        raise ValidationError(f"models must be a non-empty list of Model objects, got "
                              f"{models!r}. Get one with Model(ws, name, version).")
    bad = [x for x in models if not isinstance(x, Model)]
    if bad:
        raise ValidationError(f"models must hold Model objects, got {bad[0]!r}. Get one with "
                              "Model(ws, name, version).")
    names = [x.name for x in models]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValidationError(f"models holds several versions of {', '.join(dupes)}; a service "
                              "serves one version per model name.")
    return list(models)


def build_bundle(ws: Workspace, root: Path, models: list[dict[str, Any]], source: SourceRef,
                 *, copy_models: bool) -> tuple[Path, Path]:
    """Materialise ``source`` and ``models`` under ``root``; returns (source dir, model dir)."""
    from cumulus.snapshot import materialize_snapshot

    src = root / "src"
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    materialize_snapshot(source.snapshot, ws.get_default_datastore(), src)
    cached = [(ref["name"], _content.cached_copy(ws, ref["location"], ref["digest"]))
              for ref in models]
    if len(cached) == 1 and not copy_models:
        return src, cached[0][1]
    model_dir = root / "models"
    if model_dir.exists():
        shutil.rmtree(model_dir)
    model_dir.mkdir(parents=True)
    for name, path in cached:
        dest = model_dir if len(cached) == 1 else model_dir / name
        if copy_models:
            shutil.copytree(path, dest, dirs_exist_ok=True)
        else:
            os.symlink(path, dest, target_is_directory=True)
    return src, model_dir


def spec_document(service: str, revision: int, source: SourceRef, src: Path | str,
                  model_dir: Path | str, limits: dict[str, Any],
                  auth: dict[str, Any] | None = None) -> dict[str, Any]:
    """The server's spec (see cumulus.models.server.handler.Spec)."""
    doc: dict[str, Any] = {
        "service": service, "revision": revision,
        "entry_script": f"{src}/{source.entry_script}", "source_directory": str(src),
        "model_dir": str(model_dir), "env_vars": source.env_vars, "limits": limits}
    if auth is not None:
        doc["auth"] = auth
    return doc


def write_json(path: Path, doc: dict[str, Any]) -> None:
    """Write a spec atomically (mode 0600: it names key hashes)."""
    from cumulus.models._keys import write_private

    write_private(path, json.dumps(doc, indent=1), dir_mode=None)
