"""Docker services: the model image run as a container on the host network.

Key changes reach the running container as a new overlay file (``put_archive``) and SIGHUP,
like a local service. A new model or code version is a new image: the new container starts
after the old one stops (a short gap), and if it fails to load, the old container is started
again.
"""

from __future__ import annotations

import errno
import shutil
import socket
from functools import cached_property
from typing import TYPE_CHECKING, Any

from cumulus.errors import DeploymentError
from cumulus.models._backend import Backend, Target, wait_for_revision
from cumulus.models._config import DeploymentConfig, DockerDeploymentConfig
from cumulus.models._image import APP, build_image, docker_client, overlay_archive
from cumulus.models._local import port_in_use_error

if TYPE_CHECKING:
    import docker


class DockerBackend(Backend):
    """A scoring container (``network_mode=host``) on a Docker engine."""

    kind = "docker"

    @cached_property
    def client(self) -> docker.DockerClient:
        return docker_client(self.state.get("docker_url"))

    def close(self) -> None:
        client = self.__dict__.pop("client", None)
        if client is not None:
            client.close()

    def _container(self) -> Any:
        import docker

        cid = self.state.get("container_id")
        if not cid:
            return None
        try:
            return self.client.containers.get(cid)
        except docker.errors.NotFound:
            return None

    # lifecycle ------------------------------------------------------------------------------
    def reserve(self, config: DeploymentConfig) -> None:
        assert isinstance(config, DockerDeploymentConfig)
        self.state["docker_url"] = config.docker_url
        self.client  # noqa: B018 - fail now if no engine answers
        port = config.port
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((config.host, port or 0))
            except OSError as exc:
                if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                    raise port_in_use_error(config.host, port or 0, None, exc) from None
                raise DeploymentError(f"Cannot listen on {config.host}:{port}: "
                                      f"{exc.strerror}.") from None
            port = probe.getsockname()[1]
        self.state.update(host=config.host, port=port)

    def start(self, target: Target) -> None:
        config = target.config
        assert isinstance(config, DockerDeploymentConfig)
        pkg = build_image(self.ws, self.client, target.models, target.source,
                          base_image_of(target), config.image_name)
        container = self._run(pkg.image, target)
        self.state.update(container_id=container.id, image=pkg.image, revision=target.revision)

    def _run(self, image: str, target: Target) -> Any:
        import docker

        name = f"cumulus-{self.name}-r{target.revision}"
        labels = {"cumulus.service": self.name, "cumulus.workspace": str(self.ws.root)}
        try:
            self._remove_leftover(name, labels)
            container = self.client.containers.create(
                image, ["--host", self.state["host"], "--port", str(self.state["port"])],
                name=name, network_mode="host", detach=True, labels=labels)
            container.put_archive(APP, overlay_archive(self._overlay(target)))
            container.start()
        except docker.errors.APIError as exc:
            raise DeploymentError(f"The Docker engine refused to run {image} for service "
                                  f"{self.name!r}: {exc.explanation or exc}") from None
        return container

    def _remove_leftover(self, name: str, labels: dict[str, str]) -> None:
        """A container of ours with this name (from a crashed deploy) is removed first."""
        import docker

        try:
            old = self.client.containers.get(name)
        except docker.errors.NotFound:
            return
        if all(old.labels.get(k) == v for k, v in labels.items()):
            old.remove(force=True)
        else:
            raise DeploymentError(f"A container named {name!r} that Cumulus did not create "
                                  "exists on the engine; remove or rename it.")

    def _overlay(self, target: Target) -> dict[str, Any]:
        return {"service": self.name, "revision": target.revision, "auth": target.auth,
                "limits": target.config.limits()}

    def apply(self, target: Target, *, code_changed: bool) -> None:
        old = self._container()
        if old is None:
            raise DeploymentError(f"The container of service {self.name!r} is gone; redeploy "
                                  "with overwrite=True.")
        if not code_changed:
            old.put_archive(APP, overlay_archive(self._overlay(target)))
            old.kill(signal="SIGHUP")
            wait_for_revision(self.base_url, target.revision, self.alive, self.logs, 120)
            self.state["revision"] = target.revision
            return
        self._replace(old, target)

    def _replace(self, old: Any, target: Target) -> None:
        config = target.config
        assert isinstance(config, DockerDeploymentConfig)
        pkg = build_image(self.ws, self.client, target.models, target.source,
                          base_image_of(target), config.image_name)
        old.stop(timeout=int(config.scoring_timeout_seconds or 30) + 5)
        previous = dict(self.state)
        new = self._run(pkg.image, target)
        self.state.update(container_id=new.id, image=pkg.image)
        try:
            wait_for_revision(self.base_url, target.revision, self.alive, self.logs, 300)
        except DeploymentError:
            self.state = previous
            new.remove(force=True)
            old.start()
            raise
        old.remove(force=True)
        self.state["revision"] = target.revision

    def stop(self) -> None:
        import docker

        container = self._container()
        if container is not None:
            try:
                container.stop(timeout=10)
                container.remove(force=True)
            except docker.errors.NotFound:
                pass
        shutil.rmtree(self.service_dir, ignore_errors=True)

    # observation -----------------------------------------------------------------------------
    def alive(self) -> bool:
        container = self._container()
        return container is not None and container.status in ("created", "running")

    def logs(self, num_lines: int = 5000) -> str:
        container = self._container()
        if container is None:
            return ""
        return str(container.logs(tail=num_lines).decode(errors="replace"))


def base_image_of(target: Target) -> str:
    """The environment's image when it names one, else the deployment's base image."""
    config = target.config
    assert isinstance(config, DockerDeploymentConfig)
    return str((target.source.environment or {}).get("image") or config.base_image)
