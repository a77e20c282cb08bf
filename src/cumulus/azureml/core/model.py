"""``azureml.core.model``: Model (register, deploy, get_model_path) and InferenceConfig."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cumulus.azureml._compat import azure_only
from cumulus.azureml.core.script_run_config import native_environment
from cumulus.errors import ValidationError
from cumulus.models import InferenceConfig as _NativeInference
from cumulus.models import Model as _NativeModel


class Model(_NativeModel):
    """``Model(ws, name)``, ``Model(ws, id='name:3')``, ``Model.register(ws, path, name)``."""

    def __init__(self, workspace: Any, name: str | None = None, id: str | None = None,
                 tags: Any = None, properties: Any = None, version: int | None = None,
                 run_id: str | None = None, model_framework: str | None = None,
                 expand: bool = True, *, _record: dict[str, Any] | None = None) -> None:
        if id and not name:
            name, _, v = id.partition(":")
            version = int(v) if v else version
        if not name:
            raise ValidationError("Model(ws, name) needs a name (or id='name:version').")
        super().__init__(workspace, name, int(version) if version else None, _record=_record)

    @classmethod
    def register(cls, workspace: Any, model_path: Any, model_name: str,
                 tags: dict[str, Any] | None = None, properties: dict[str, Any] | None = None,
                 description: str | None = None, datasets: Any = None,
                 model_framework: str | None = None, model_framework_version: str | None = None,
                 child_paths: Any = None, sample_input_dataset: Any = None,
                 sample_output_dataset: Any = None, resource_configuration: Any = None,
                 ) -> Model:
        props = dict(properties or {})
        if model_framework:
            props.setdefault("framework", model_framework)
            props.setdefault("framework_version", model_framework_version)
        azure_only("resource_configuration", resource_configuration, "not used")
        model = _NativeModel.register(workspace, model_path=model_path, model_name=model_name,
                                      tags=tags, properties=props, description=description)
        return cls(workspace, model.name, version=model.version)

    @staticmethod
    def list(workspace: Any, name: str | None = None, tags: Any = None,
             properties: Any = None, run_id: str | None = None, latest: bool = False,
             **_: Any) -> list[_NativeModel]:
        models = _NativeModel.list(workspace, name)
        if run_id:
            models = [m for m in models if m.run_id == run_id]
        if latest:
            models = list({m.name: m for m in sorted(models, key=lambda m: m.version)}.values())
        return models

    @staticmethod
    def get_model_path(model_name: str, version: int | None = None,
                       _workspace: Any = None) -> str:
        """Inside a scoring script: the deployed model's file or folder. Elsewhere: the
        model downloaded from the workspace into ``./azureml-models/NAME/VERSION``."""
        root = os.environ.get("CUMULUS_MODEL_DIR")
        if root:
            own = Path(root) / model_name
            if own.exists():
                return str(own)
            entries = list(Path(root).iterdir())
            return str(entries[0]) if len(entries) == 1 else root
        from cumulus.azureml.core.workspace import Workspace

        ws = _workspace or Workspace.from_config()
        model = Model(ws, model_name, version=version)
        target = Path("azureml-models") / model.name / str(model.version)
        return model.download(str(target), exist_ok=True)

    @staticmethod
    def deploy(  # type: ignore[override]
            workspace: Any, name: str, models: Any, inference_config: Any = None,
            deployment_config: Any = None, deployment_target: Any = None,
            overwrite: bool = False, show_output: bool = False) -> Any:
        azure_only("deployment_target", deployment_target, "services run on this machine")
        config = inference_config if isinstance(inference_config, _NativeInference) else \
            (inference_config.to_native() if inference_config is not None else None)
        if config is None:
            raise ValidationError("Model.deploy needs an InferenceConfig(entry_script=..., "
                                  "source_directory=...).")
        service = _NativeModel.deploy(workspace, name, list(models), config, deployment_config,
                                      overwrite=overwrite)
        if show_output:
            service.wait_for_deployment(show_output=True)
        return service


class InferenceConfig:
    """The scoring code: ``entry_script`` in ``source_directory`` with ``environment``."""

    def __init__(self, entry_script: str, runtime: str | None = None,
                 conda_file: str | None = None, extra_docker_file_steps: str | None = None,
                 source_directory: str | None = None, enable_gpu: bool | None = None,
                 description: str | None = None, base_image: str | None = None,
                 base_image_registry: Any = None, cuda_version: str | None = None,
                 environment: Any = None) -> None:
        self.entry_script, self.source_directory = entry_script, source_directory
        self.environment = environment
        if conda_file and environment is None:
            from cumulus.azureml.core.environment import Environment

            base = Path(source_directory or ".")
            self.environment = Environment.from_conda_specification(
                "inference", str(base / conda_file if not Path(conda_file).exists()
                                 else conda_file))
        for key, value in (("runtime", runtime), ("extra_docker_file_steps",
                           extra_docker_file_steps), ("enable_gpu", enable_gpu),
                           ("base_image", base_image), ("cuda_version", cuda_version)):
            azure_only(key, value, "the service runs the entry script in a local process")

    def to_native(self) -> _NativeInference:
        entry = Path(self.entry_script)
        source = self.source_directory
        if source is None:  # the SDK allows a path to the script alone
            source, entry = str(entry.parent or "."), Path(entry.name)
        env = native_environment(self.environment) if self.environment is not None else None
        return _NativeInference(entry_script=str(entry), source_directory=source,
                                environment=env)


__all__ = ["InferenceConfig", "Model"]
