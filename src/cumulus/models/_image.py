"""Docker images that serve models: ``Model.package`` and the image behind a DockerWebservice.

The image is ``base_image`` plus three layers, from the least to the most often changed:

1. ``/opt/cumulus/site``: FastAPI, uvicorn and the environment's pip packages, installed on the
   host from the package index as binary wheels for the image's Python (``uv pip install
   --target`` or ``pip install --target``), because base images such as a debootstrap rootfs
   have no pip and no network; cached on the host per requirement set;
2. ``/opt/cumulus/server/cumulus_scoring``: the same scoring server that local services run
   (``cumulus.models.server``), so both serve one HTTP API with one implementation of auth,
   limits and errors;
3. ``/var/cumulus/app``: the entry script's source snapshot, the model files and the spec.

The tag is derived from the content, so packaging the same models and code again reuses the
image. Per-service settings (key hashes, limits, revision) are not baked in: the container gets
them as an overlay file.

Example::

    pkg = Model.package(ws, [model], InferenceConfig("score.py", "src"),
                        base_image="cumulus-python:3.11")
    print(pkg.image)        # cumulus/digits:3f2a...
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cumulus._hashing import text_digest
from cumulus.errors import DeploymentError, EnvironmentBuildError, MissingDependencyError
from cumulus.models._bundle import SourceRef, build_bundle, check_models, model_refs

if TYPE_CHECKING:
    import docker

    from cumulus.models._config import InferenceConfig
    from cumulus.models._registry import Model
    from cumulus.workspace import Workspace

APP = "/var/cumulus/app"
STDLIB_CHECK = ("import sys, json, asyncio, http.server, email.utils, concurrent.futures, "
                "logging, ssl; print('%d.%d' % sys.version_info[:2])")
_PYTHON_VERSIONS: dict[str, str] = {}


@dataclass
class ModelPackage:
    """A built image serving some models; run it with a DockerWebservice or ``docker run``.

    Example::

        pkg = Model.package(ws, [model], inference_config, base_image="cumulus-python:3.11")
        pkg.image, pkg.image_id, pkg.get_logs()
    """

    image: str
    image_id: str
    models: list[str]
    build_log: str = ""
    reused: bool = False
    labels: dict[str, str] = field(default_factory=dict)

    def get_logs(self) -> str:
        return self.build_log

    def wait_for_creation(self, show_output: bool = False) -> None:
        """Images are built synchronously; kept for code written against Azure ML."""
        if show_output:
            print(self.build_log)


def docker_client(url: str | None = None) -> docker.DockerClient:
    """A docker SDK client for ``url`` (default: the environment, DOCKER_HOST)."""
    try:
        import docker
    except ImportError:
        raise MissingDependencyError("Docker images", "docker", extra="docker") from None
    try:
        client = docker.DockerClient(base_url=url) if url else docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        where = url or os.environ.get("DOCKER_HOST") or "the default socket"
        raise DeploymentError(f"No Docker engine answers at {where}: {exc}. Start dockerd, or "
                              "pass docker_url='unix:///path/docker.sock'.") from None
    return client


def base_python(client: docker.DockerClient, base_image: str) -> str:
    """The ``X.Y`` Python version of ``base_image``; refuses one without the full stdlib."""
    import docker

    try:
        image = client.images.get(base_image)
    except docker.errors.ImageNotFound:
        raise DeploymentError(
            f"Base image {base_image!r} is not on the Docker engine and no registry is "
            "assumed. Build one from a rootfs, e.g. `debootstrap --variant=minbase "
            "--include=python3 bookworm DIR` then `tar -C DIR -c . | docker import - "
            f"{base_image}` (tests/dockerd.py does this).") from None
    if image.id in _PYTHON_VERSIONS:
        return _PYTHON_VERSIONS[image.id]
    try:
        out = client.containers.run(base_image, ["python3", "-c", STDLIB_CHECK],
                                     entrypoint=[], network_mode="none", remove=True,
                                     stdout=True, stderr=True)
    except docker.errors.ContainerError as exc:
        raise DeploymentError(
            f"Base image {base_image!r} lacks python3 or its standard library ({exc.stderr!r}"
            "). A scoring image needs Debian's python3 (python3-minimal is not enough: it "
            "has no json or asyncio).") from None
    except docker.errors.APIError as exc:
        raise DeploymentError(f"Cannot run base image {base_image!r}: {exc}") from None
    version = out.decode().strip().splitlines()[-1]
    _PYTHON_VERSIONS[image.id] = version
    return version


def server_requirements(pip: list[str]) -> list[str]:
    """FastAPI and uvicorn at the host's versions (one behaviour), then the environment's."""
    from importlib.metadata import PackageNotFoundError, version

    reqs = []
    for dist in ("fastapi", "uvicorn", "orjson"):
        try:
            reqs.append(f"{dist}=={version(dist)}")
        except PackageNotFoundError:
            if dist != "orjson":
                reqs.append(dist)
    return [*reqs, *pip]


def site_packages(requirements: list[str], python_version: str) -> Path:
    """A folder of packages installed for the image's Python (cached per requirement set)."""
    from cumulus.snapshot import cache_dir

    machine = platform.machine().lower().replace("amd64", "x86_64").replace("arm64", "aarch64")
    key = text_digest(json.dumps([sorted(requirements), python_version, machine]), 24)
    final = cache_dir() / "image-site" / key
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=final.parent))
    try:
        _install(requirements, tmp, python_version, machine)
        tmp.rename(final)
    except OSError:
        if not final.is_dir():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _install(requirements: list[str], target: Path, python_version: str, machine: str) -> None:
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    if os.path.exists(uv):
        cmd = [uv, "pip", "install", "--quiet", "--target", str(target), "--only-binary",
               ":all:", "--python-version", python_version, "--python-platform",
               f"{machine}-manylinux_2_28", *requirements]
    else:
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-input", "--target",
               str(target), "--only-binary=:all:", "--python-version",
               python_version.replace(".", ""), "--implementation", "cp",
               "--platform", f"manylinux2014_{machine}", "--platform",
               f"manylinux_2_28_{machine}", *requirements]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise EnvironmentBuildError(
            f"Installing {requirements} for the image's Python {python_version} failed "
            f"({Path(cmd[0]).name} exit {proc.returncode}): {proc.stderr.strip()[-1500:]}. Only "
            "binary wheels are used (the image has no compiler); pin versions that publish "
            "manylinux wheels.")


def image_tag(refs: list[dict[str, Any]], source: SourceRef, base_id: str,
              requirements: list[str], image_name: str | None) -> str:
    server = Path(__file__).resolve().parent / "server"
    code = hashlib.sha256()
    for path in sorted(server.glob("*.py")):
        code.update(path.read_bytes())
    key = hashlib.sha256(json.dumps([[r["digest"] for r in refs], source.to_dict(), base_id,
                                     requirements, code.hexdigest()], sort_keys=True)
                         .encode()).hexdigest()[:16]
    if image_name:
        return image_name if ":" in image_name.rsplit("/", 1)[-1] else f"{image_name}:{key}"
    return f"cumulus/{refs[0]['name'].lower()}:{key}"


def build_image(ws: Workspace, client: docker.DockerClient, refs: list[dict[str, Any]],
                source: SourceRef, base_image: str, image_name: str | None = None,
                show_output: bool = False) -> ModelPackage:
    """Build (or reuse) the image for ``refs`` + ``source`` on top of ``base_image``."""
    import docker

    version = base_python(client, base_image)
    reqs = server_requirements(source.pip)
    tag = image_tag(refs, source, client.images.get(base_image).id, reqs, image_name)
    names = [f"{r['name']}:{r['version']}" for r in refs]
    try:
        image = client.images.get(tag)
        return ModelPackage(tag, image.id, names, "reused the existing image", reused=True)
    except docker.errors.ImageNotFound:
        pass
    site = site_packages(reqs, version)
    with tempfile.TemporaryDirectory(prefix="cumulus-image-") as tmp:
        context = _context(ws, Path(tmp), refs, source, site, base_image, names)
        image_id, log = _build(client, context, tag, show_output)
    return ModelPackage(tag, image_id, names, log, labels={"cumulus.models": ",".join(names)})


def _context(ws: Workspace, root: Path, refs: list[dict[str, Any]], source: SourceRef,
             site: Path, base_image: str, names: list[str]) -> Path:
    from cumulus.models._bundle import write_json

    app = root / "app"
    build_bundle(ws, app, refs, source, copy_models=True)
    write_json(app / "spec.json", {
        "service": "service", "revision": 1, "entry_script": f"src/{source.entry_script}",
        "source_directory": "src", "model_dir": "models", "env_vars": source.env_vars})
    os.chmod(app / "spec.json", 0o644)
    server = Path(__file__).resolve().parent / "server"
    shutil.copytree(server, root / "cumulus_scoring",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (root / "Dockerfile").write_text(
        f"FROM {base_image}\n"
        "COPY site/ /opt/cumulus/site/\n"
        "COPY cumulus_scoring/ /opt/cumulus/server/cumulus_scoring/\n"
        f"COPY app/ {APP}/\n"
        "ENV PYTHONPATH=/opt/cumulus/site:/opt/cumulus/server PYTHONUNBUFFERED=1 "
        f"PYTHONDONTWRITEBYTECODE=1 CUMULUS_MODEL_DIR={APP}/models\n"
        f"LABEL cumulus.models=\"{','.join(names)}\" cumulus.workspace=\"{ws.name}\"\n"
        f"WORKDIR {APP}\n"
        'ENTRYPOINT ["python3", "-m", "cumulus_scoring", "--spec", '
        f'"{APP}/spec.json", "--overlay", "{APP}/overlay.json"]\n')
    return _tar_context(root, site)


def _tar_context(root: Path, site: Path) -> Path:
    archive = root.parent / f"{root.name}.context.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(site, arcname="site", filter=_no_pycache)
        for name in ("cumulus_scoring", "app", "Dockerfile"):
            tar.add(root / name, arcname=name, filter=_no_pycache)
    return archive


def _no_pycache(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    if "__pycache__" in info.name.split("/"):
        return None
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def _build(client: docker.DockerClient, context: Path, tag: str,
           show_output: bool) -> tuple[str, str]:
    lines: list[str] = []
    image_id = ""
    with open(context, "rb") as fh:
        for chunk in client.api.build(fileobj=fh, custom_context=True, tag=tag, rm=True,
                                      forcerm=True, decode=True, network_mode="none"):
            text = chunk.get("stream") or chunk.get("status") or ""
            if "error" in chunk:
                raise DeploymentError(f"Building image {tag} failed: {chunk['error']}\n"
                                      + "".join(lines[-20:]))
            if "aux" in chunk and "ID" in chunk["aux"]:
                image_id = chunk["aux"]["ID"]
            if text:
                lines.append(text)
                if show_output:
                    sys.stdout.write(text)
    if not image_id:
        image_id = client.images.get(tag).id
    return image_id, "".join(lines)


def package(ws: Workspace, models: list[Model], inference_config: InferenceConfig,
            image_name: str | None = None, *, base_image: str | None = None,
            docker_url: str | None = None, show_output: bool = False) -> ModelPackage:
    """``Model.package``: validate, then build (or reuse) the image on the engine."""
    from cumulus.errors import ValidationError
    from cumulus.models._config import DockerDeploymentConfig, InferenceConfig

    refs = model_refs(check_models(models))
    if not isinstance(inference_config, InferenceConfig):
        raise ValidationError(f"inference_config must be an InferenceConfig, got "
                              f"{type(inference_config).__name__}.")
    base = base_image or DockerDeploymentConfig.base_image
    source = SourceRef.capture(ws, inference_config)
    client = docker_client(docker_url)
    try:
        return build_image(ws, client, refs, source, base, image_name, show_output)
    finally:
        client.close()


def overlay_archive(doc: dict[str, Any]) -> bytes:
    """A tar holding ``overlay.json`` for ``container.put_archive(APP, ...)``."""
    data = json.dumps(doc).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("overlay.json")
        info.size = len(data)
        info.mode = 0o600
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
