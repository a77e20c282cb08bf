"""Webservice: a deployed model behind an authenticated REST scoring endpoint.

Example::

    svc = Model.deploy(ws, "digits-svc", [model],
                       InferenceConfig(entry_script="score.py", source_directory="src"),
                       LocalWebservice.deploy_configuration(port=None, auth_enabled=True))
    svc.wait_for_deployment(show_output=True)
    svc.run({"data": [[0.0] * 64]})
    svc.update(models=[Model(ws, "digits")])       # swapped in, no request fails
    Webservice(ws, "digits-svc").get_keys()         # from another process
    svc.delete()
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from cumulus.errors import DeploymentError, ServiceNotFoundError, ValidationError
from cumulus.models._backend import FAILED, HEALTHY, Backend, Target, tail
from cumulus.models._bundle import SourceRef, check_models, model_refs
from cumulus.models._config import (
    DeploymentConfig,
    DockerDeploymentConfig,
    InferenceConfig,
    LocalDeploymentConfig,
    config_from_dict,
)
from cumulus.models._keys import KeyFile, key_slot
from cumulus.store import models as m

if TYPE_CHECKING:
    import httpx

    from cumulus.models._registry import Model
    from cumulus.run import Run
    from cumulus.workspace import Workspace

SERVICE_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{1,61}[a-z0-9]$")


START_WAIT = 120.0  # seconds run() waits for a service that is still starting (503)


class ServiceRequestError(DeploymentError):
    """The scoring endpoint answered an error status (``status_code``, ``body``)."""

    def __init__(self, message: str, status_code: int, body: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body


def check_service_name(name: Any) -> str:
    if not isinstance(name, str) or not SERVICE_NAME_RE.match(name):
        raise ValidationError(f"Service name {name!r} is invalid: use 3-63 lowercase letters, "
                              "digits or '-', starting with a letter and ending with a letter "
                              "or digit (e.g. 'digits-svc').")
    return name


def make_backend(ws: Workspace, name: str, kind: str, state: dict[str, Any]) -> Backend:
    if kind == "docker":
        from cumulus.models._docker import DockerBackend

        return DockerBackend(ws, name, state)
    from cumulus.models._local import LocalBackend

    return LocalBackend(ws, name, state)


@contextmanager
def service_lock(ws: Workspace, name: str) -> Iterator[None]:
    """Serialise deploy/update/regen/delete of one service across processes."""
    from cumulus._procs import file_lock

    with file_lock(ws.state_dir / "services" / f".{name}.lock"):
        yield


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Webservice:
    """A deployed scoring service; ``Webservice(ws, name)`` reopens one from any process.

    Example::

        svc = Webservice(ws, "digits-svc")
        print(svc.state, svc.scoring_uri, svc.swagger_uri)
        primary, secondary = svc.get_keys()
    """

    _kind = ""

    def __new__(cls, workspace: Workspace, name: str) -> Webservice:
        if cls is Webservice:
            kind = _load(workspace, name)["kind"]
            cls = DockerWebservice if kind == "docker" else LocalWebservice
        return super().__new__(cls)

    def __init__(self, workspace: Workspace, name: str) -> None:
        self.workspace = workspace
        self.name = name
        self._record = _load(workspace, name)
        self._http_client: httpx.Client | None = None
        self._backend_obj: Backend | None = None

    # record ------------------------------------------------------------------------------------
    def _refresh(self) -> dict[str, Any]:
        self._record = _load(self.workspace, self.name)
        if self._backend_obj is not None:
            self._backend_obj.state = dict(self._record["state"] or {})
        return self._record

    def _backend(self) -> Backend:
        """The backend (kept: a Docker one holds an engine connection), at the record's state."""
        if self._backend_obj is None:
            self._backend_obj = make_backend(self.workspace, self.name, self._record["kind"],
                                             self._record["state"] or {})
        return self._backend_obj

    def _save(self, **values: Any) -> None:
        values["updated_at"] = _now()
        if not self.workspace.store.services.update(self.name, **values):
            raise ServiceNotFoundError(self.name)
        self._record.update(values)
        if "state" in values and self._backend_obj is not None:
            self._backend_obj.state = dict(values["state"])

    @property
    def kind(self) -> str:
        return str(self._record["kind"])

    compute_type = kind

    @property
    def port(self) -> int:
        return int(self._record["state"]["port"])

    @property
    def auth_enabled(self) -> bool:
        return bool(self._record["config"]["deployment"]["auth_enabled"])

    @property
    def scoring_uri(self) -> str:
        return f"{self._backend().base_url}/score"

    @property
    def swagger_uri(self) -> str:
        return f"{self._backend().base_url}/swagger.json"

    @property
    def revision(self) -> int:
        """The spec revision being served (it grows with every update and key change)."""
        return int(self._refresh()["state"].get("revision", 1))

    @property
    def models(self) -> list[Model]:
        from cumulus.models._registry import Model

        return [Model(self.workspace, r["name"], r["version"])
                for r in self._refresh()["models"]]

    @property
    def state(self) -> str:
        """Healthy, Transitioning or Failed, as observed now (and recorded in the store)."""
        status, _error = self._observe()
        return status

    def _observe(self) -> tuple[str, str | None]:
        self._refresh()  # another process may have updated it
        status, error = self._backend().probe()
        if status != self._record["status"]:
            self._save(status=status)
        return status, error

    def get_details(self) -> dict[str, Any]:
        rec = self._refresh()
        return {"name": self.name, "kind": rec["kind"], "state": self.state,
                "scoring_uri": self.scoring_uri, "swagger_uri": self.swagger_uri,
                "models": [f"{r['name']}:{r['version']}" for r in rec["models"]],
                "revision": self.revision, "auth_enabled": self.auth_enabled,
                "entry_script": rec["config"]["source"]["entry_script"],
                "created_time": rec["created_at"], "updated_time": rec["updated_at"]}

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name={self.name!r}, scoring_uri={self.scoring_uri!r}, "
                f"models={[r['name'] + ':' + str(r['version']) for r in self._record['models']]})")

    # keys ------------------------------------------------------------------------------------
    def get_keys(self) -> tuple[str, str]:
        """(primary, secondary) keys; only where the service was deployed from."""
        keys = KeyFile(self.workspace, self.name).read()
        return keys["primary"], keys["secondary"]

    def regen_key(self, key: str) -> None:
        """Replace the 'Primary' or 'Secondary' key; the old one stops working on return."""
        slot = key_slot(key)
        keyfile = KeyFile(self.workspace, self.name)
        with service_lock(self.workspace, self.name):
            self._refresh()
            old = keyfile.read()
            keyfile.regen(slot)
            try:
                self._apply(self._record["models"], self._source(), self._config(),
                            code_changed=False)
            except Exception:
                keyfile._write(old)
                raise

    # scoring ---------------------------------------------------------------------------------
    def _http(self) -> httpx.Client:
        if self._http_client is None:
            import httpx

            self._http_client = httpx.Client()
        return self._http_client

    def run(self, input_data: Any, *, timeout: float | None = None) -> Any:
        """POST ``input_data`` (a JSON str/bytes, or an object to encode) to /score."""
        body = input_data if isinstance(input_data, (str, bytes)) else json.dumps(input_data)
        headers = {"Content-Type": "application/json"}
        if self.auth_enabled:
            headers["Authorization"] = f"Bearer {self.get_keys()[0]}"
        limit = self._config().scoring_timeout_seconds or 300.0
        resp = self._post(body, headers, timeout or limit + 10)
        if resp.status_code == 503:  # still starting (e.g. run() right after deploy): wait once
            self.wait_for_deployment(timeout_sec=START_WAIT)
            resp = self._post(body, headers, timeout or limit + 10)
        if resp.status_code != 200:
            raise ServiceRequestError(f"Service {self.name!r} answered {resp.status_code}: "
                                      f"{resp.text}", resp.status_code, resp.text)
        return resp.json()

    def _post(self, body: Any, headers: dict[str, str], timeout: float) -> Any:
        try:
            return self._http().post(self.scoring_uri, content=body, headers=headers,
                                     timeout=timeout)
        except OSError as exc:
            raise DeploymentError(f"Service {self.name!r} cannot be reached at "
                                  f"{self.scoring_uri}: {exc}. Check svc.state.") from exc
        except Exception as exc:  # httpx.HTTPError
            raise DeploymentError(f"Service {self.name!r} cannot be reached at "
                                  f"{self.scoring_uri}: {exc}. Check svc.state and "
                                  "svc.get_logs().") from exc

    # operations ------------------------------------------------------------------------------
    def get_logs(self, num_lines: int = 5000) -> str:
        return self._backend().logs(num_lines)

    def wait_for_deployment(self, show_output: bool = False, timeout_sec: float = 300.0,
                            ) -> str:
        """Block until the service is Healthy (returned) or Failed (DeploymentError)."""
        deadline = time.monotonic() + timeout_sec
        printed = 0
        while True:
            status, error = self._observe()
            if show_output:
                text = self.get_logs(100_000)
                if len(text) > printed:
                    sys.stdout.write(text[printed:])
                    sys.stdout.flush()
                printed = max(printed, len(text))
            if status == HEALTHY:
                if show_output:
                    print(f"Service {self.name!r} is Healthy: {self.scoring_uri}")
                return status
            if status == FAILED:
                raise DeploymentError(f"Service {self.name!r} failed to deploy: {error}\n"
                                      f"Last log lines:\n{tail(self.get_logs(200), 30)}")
            if time.monotonic() > deadline:
                raise DeploymentError(f"Service {self.name!r} is still {status} after "
                                      f"{timeout_sec:g} s. Last log lines:\n"
                                      f"{tail(self.get_logs(200), 30)}")
            time.sleep(0.1)

    def update(self, models: Sequence[Model] | None = None,
               inference_config: InferenceConfig | None = None, *,
               auth_enabled: bool | None = None) -> None:
        """Serve other model versions and/or code. Local services swap them in without a
        failed request; if the new version fails to load, the old one keeps serving."""
        refs = model_refs(check_models(models)) if models is not None else None
        if inference_config is not None and not isinstance(inference_config, InferenceConfig):
            raise ValidationError(f"inference_config must be an InferenceConfig, got "
                                  f"{type(inference_config).__name__}.")
        if auth_enabled is not None and not isinstance(auth_enabled, bool):
            raise ValidationError(f"auth_enabled must be True or False, got {auth_enabled!r}.")
        with service_lock(self.workspace, self.name):
            self._refresh()
            refs = refs if refs is not None else self._record["models"]
            source = (SourceRef.capture(self.workspace, inference_config)
                      if inference_config is not None else self._source())
            config = self._config()
            check_environment(source, config)
            if auth_enabled is not None:
                config.auth_enabled = auth_enabled
            changed = (_ids(refs) != _ids(self._record["models"]) or source != self._source())
            self._apply(refs, source, config, code_changed=changed)

    def _apply(self, refs: list[dict[str, Any]], source: SourceRef, config: DeploymentConfig,
               *, code_changed: bool) -> None:
        status, error = self._observe()
        if status == FAILED:
            raise DeploymentError(f"Service {self.name!r} is Failed ({error}); it cannot be "
                                  "updated in place. Redeploy it with Model.deploy(..., "
                                  "overwrite=True).")
        if status != HEALTHY:  # still loading its first revision: let it finish
            self.wait_for_deployment()
        state = dict(self._record["state"])
        revision = int(state.get("next_revision", state.get("revision", 1) + 1))
        self._save(state={**state, "next_revision": revision + 1})
        backend = self._backend()
        target = Target(revision, refs, source, config, self._auth(config))
        try:
            backend.apply(target, code_changed=code_changed)
        finally:  # whatever happened, record where the backend is now
            self._save(state={**backend.state, "next_revision": revision + 1})
        self._save(models=refs, status=HEALTHY,
                   state={**backend.state, "next_revision": revision + 1,
                          "key_hashes": target.auth["key_hashes"]}, config={
            "deployment": config.to_dict(), "source": source.to_dict()})

    def _auth(self, config: DeploymentConfig) -> dict[str, Any]:
        return {"enabled": config.auth_enabled,
                "key_hashes": KeyFile(self.workspace, self.name).hashes()}

    def _source(self) -> SourceRef:
        return SourceRef.from_dict(self._record["config"]["source"])

    def _config(self) -> DeploymentConfig:
        return config_from_dict(self._record["config"]["deployment"])

    def delete(self) -> None:
        """Stop the server, forget its keys and remove it from the workspace."""
        with service_lock(self.workspace, self.name):
            self._delete_unlocked()
        self.close()

    def _delete_unlocked(self) -> None:
        self._backend().stop()
        KeyFile(self.workspace, self.name).delete()
        self.workspace.store.records.delete(m.ServiceRecord, self.name)

    def close(self) -> None:
        """Close this handle's HTTP and engine connections (the service keeps running)."""
        if self._http_client is not None:
            self._http_client.close()
            self._http_client = None
        if self._backend_obj is not None:
            self._backend_obj.close()
            self._backend_obj = None

    def __enter__(self) -> Webservice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # listing ---------------------------------------------------------------------------------
    @classmethod
    def list(cls, workspace: Workspace, model_name: str | None = None) -> list[Webservice]:
        """Services of the workspace (only those serving ``model_name`` when given)."""
        out = []
        for rec in workspace.store.records.list(m.ServiceRecord):
            if model_name and not any(r["name"] == model_name for r in rec["models"] or []):
                continue
            if cls is not Webservice and rec["kind"] != cls._kind:
                continue
            out.append(Webservice(workspace, rec["name"]))
        return out


class LocalWebservice(Webservice):
    """A scoring process on this machine.

    Example::

        dc = LocalWebservice.deploy_configuration(port=8890, auth_enabled=True,
                                                  max_request_bytes=2**20)
    """

    _kind = "local"

    @staticmethod
    def deploy_configuration(port: int | None = None, auth_enabled: bool = True, *,
                             max_request_bytes: int = 1024 * 1024,
                             scoring_timeout_seconds: float | None = 60.0,
                             max_concurrency: int = 8,
                             host: str = "127.0.0.1") -> LocalDeploymentConfig:
        return LocalDeploymentConfig(port=port, auth_enabled=auth_enabled,
                                     max_request_bytes=max_request_bytes,
                                     scoring_timeout_seconds=scoring_timeout_seconds,
                                     max_concurrency=max_concurrency, host=host)


class DockerWebservice(Webservice):
    """A container built from the models, entry script and environment (docker SDK).

    Example::

        dc = DockerWebservice.deploy_configuration(base_image="cumulus-python:3.11")
    """

    _kind = "docker"

    @staticmethod
    def deploy_configuration(port: int | None = None, auth_enabled: bool = True, *,
                             base_image: str = "cumulus-python:3.11",
                             docker_url: str | None = None, image_name: str | None = None,
                             max_request_bytes: int = 1024 * 1024,
                             scoring_timeout_seconds: float | None = 60.0,
                             max_concurrency: int = 8,
                             host: str = "127.0.0.1") -> DockerDeploymentConfig:
        return DockerDeploymentConfig(port=port, auth_enabled=auth_enabled,
                                      base_image=base_image, docker_url=docker_url,
                                      image_name=image_name, max_request_bytes=max_request_bytes,
                                      scoring_timeout_seconds=scoring_timeout_seconds,
                                      max_concurrency=max_concurrency, host=host)

    @property
    def image(self) -> str:
        return str(self._record["state"].get("image", ""))


def _load(ws: Workspace, name: str) -> dict[str, Any]:
    rec = ws.store.records.get(m.ServiceRecord, name)
    if rec is None:
        known = [r["name"] for r in ws.store.records.list(m.ServiceRecord)]
        raise ServiceNotFoundError(name, known, hint="Deploy one with Model.deploy(...); list "
                                   "them with `cumulus model services`.")
    return rec


def check_environment(source: SourceRef, config: DeploymentConfig) -> None:
    """Refuse environments a service kind cannot provide, before anything starts."""
    env = source.environment or {}
    if env.get("dockerfile"):
        raise ValidationError(
            f"Environment {env.get('name')!r} is built from a Dockerfile, which services do "
            "not build. Build the image first and deploy with "
            "DockerWebservice.deploy_configuration(base_image=IMAGE).")
    if env.get("image") and config.kind == "local":
        raise ValidationError(
            f"Environment {env.get('name')!r} runs in image {env['image']!r}; a "
            "LocalWebservice runs on this machine. Deploy with "
            f"DockerWebservice.deploy_configuration(base_image={env['image']!r}) instead.")


def _ids(refs: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return sorted((r["name"], int(r["version"])) for r in refs)


# deployment ------------------------------------------------------------------------------------
def deploy(ws: Workspace, name: str, models: Sequence[Model], inference_config: InferenceConfig,
           deployment_config: DeploymentConfig | None = None, *,
           overwrite: bool = False) -> Webservice:
    """Validate everything, claim the port, record the service and start its server."""
    check_service_name(name)
    refs = model_refs(check_models(models))
    if not isinstance(inference_config, InferenceConfig):
        raise ValidationError(f"inference_config must be an InferenceConfig, got "
                              f"{type(inference_config).__name__}.")
    config = deployment_config or LocalDeploymentConfig()
    if not isinstance(config, DeploymentConfig):
        raise ValidationError(
            f"deployment_config must come from LocalWebservice.deploy_configuration() or "
            f"DockerWebservice.deploy_configuration(), got {type(config).__name__}.")
    with service_lock(ws, name):
        if ws.store.records.get(m.ServiceRecord, name) is not None:
            if not overwrite:
                raise DeploymentError(
                    f"Service {name!r} exists already. Update it with "
                    f"Webservice(ws, {name!r}).update(models=[...]), deploy with "
                    "overwrite=True to replace it, or choose another name.")
            Webservice(ws, name)._delete_unlocked()
        source = SourceRef.capture(ws, inference_config)
        check_environment(source, config)
        backend = make_backend(ws, name, config.kind, {})
        backend.reserve(config)
        try:
            _start(ws, name, backend, refs, source, config)
        except BaseException:
            backend.release()
            raise
    return Webservice(ws, name)


def _start(ws: Workspace, name: str, backend: Backend, refs: list[dict[str, Any]],
           source: SourceRef, config: DeploymentConfig) -> None:
    keyfile = KeyFile(ws, name)
    keyfile.create()
    auth = {"enabled": config.auth_enabled, "key_hashes": keyfile.hashes()}
    now = _now()
    created = ws.store.services.create(
        name, kind=config.kind, models=refs, status="Transitioning",
        config={"deployment": config.to_dict(), "source": source.to_dict()},
        state={**backend.state, "revision": 1, "next_revision": 2,
               "key_hashes": auth["key_hashes"]},
        created_at=now, updated_at=now)
    if not created:
        raise DeploymentError(f"Service {name!r} was deployed concurrently by another "
                              "process; use Webservice(ws, name).")
    try:
        backend.start(Target(1, refs, source, config, auth))
    except BaseException:
        backend.stop()
        keyfile.delete()
        ws.store.records.delete(m.ServiceRecord, name)
        raise
    ws.store.services.update(name, state={**backend.state, "revision": 1, "next_revision": 2,
                                          "key_hashes": auth["key_hashes"]},
                             updated_at=_now())


def deploy_from_run(run: Run, model_output_path: str, service_name: str,
                    inference_config: InferenceConfig,
                    deployment_config: DeploymentConfig | None = None, *,
                    model_name: str | None = None, tags: dict[str, Any] | None = None,
                    wait: bool = True) -> Webservice:
    """Register ``model_output_path`` of ``run`` and deploy it, or update the service.

    The building block of a pipeline deploy step: the model is registered under
    ``model_name`` (default: the service name) linked to the run; an existing service of the
    same kind is updated in place (no failed request), otherwise one is deployed.

    Example::

        svc = deploy_from_run(train_run, "outputs/model.pkl", "digits-svc",
                              InferenceConfig(entry_script="score.py", source_directory="src"))
    """
    from cumulus.models._registry import Model

    check_service_name(service_name)
    config = deployment_config or LocalDeploymentConfig()
    model = run.register_model(model_name or service_name, model_output_path, tags=tags)
    ws = run.workspace
    try:
        svc = Webservice(ws, service_name)
    except ServiceNotFoundError:
        svc = None
    if svc is not None and svc.kind == config.kind:
        svc.update(models=[model], inference_config=inference_config)
    else:
        svc = Model.deploy(ws, service_name, [model], inference_config, config,
                           overwrite=svc is not None)
    if wait:
        svc.wait_for_deployment()
    return svc
