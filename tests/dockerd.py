"""A private Docker engine for tests, and a local Python base image (no registry needed).

``start_engine()`` starts ``dockerd`` as ../shared/PLATFORM.md describes (its own socket,
data-root and exec-root under a temp dir, no iptables, no bridge), or uses the engine named by
``DOCKER_HOST`` when set; ``ensure_base_image(client)`` imports a Debian bookworm rootfs with
python3 (``debootstrap --variant=minbase --include=python3``) as ``cumulus-python:3.11``. The
rootfs tarball is built once (about 40-90 s) and cached under ``/var/cache/cumulus-test``
(``CUMULUS_DOCKER_CACHE``), so later sessions only import it (a few seconds).

Use it from a conftest (the fixture is session-scoped and stops the engine at the end)::

    from dockerd import docker_engine  # noqa: F401  (registers the fixture)

    def test_x(docker_engine):
        docker_engine.client.containers.run(docker_engine.base_image, ["python3", "-V"],
                                            network_mode="none", remove=True)

Where no engine can start (no dockerd binary, not root, no debootstrap, daemon error) the
fixture skips with the reason; with ``CUMULUS_REQUIRE_DOCKER=1`` it fails instead.
Prerequisites: ``bash .ci/setup_docker.sh``.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CACHE = Path(os.environ.get("CUMULUS_DOCKER_CACHE", "/var/cache/cumulus-test"))
BASE_IMAGE = "cumulus-python:3.11"
ROOTFS_TAR = "bookworm-python3-rootfs.tar"
MIRROR = os.environ.get("CUMULUS_DEBIAN_MIRROR", "http://deb.debian.org/debian")
DOCKERD_FLAGS = ["--iptables=false", "--ip6tables=false", "--bridge=none", "--ip-masq=false"]


class EngineUnavailable(RuntimeError):
    """No Docker engine can be used here; the message says why and how to fix it."""


@dataclass
class DockerEngine:
    """A docker SDK client, and the dockerd process when this helper started it."""

    client: Any
    url: str
    base_image: str = ""
    process: subprocess.Popen[bytes] | None = None
    root: Path | None = None
    log_path: Path | None = None
    started: list[str] = field(default_factory=list)

    def log_tail(self, lines: int = 20) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def close(self) -> None:
        """Remove the containers left behind, stop dockerd (if ours) and delete its dirs."""
        if self.process is not None:
            _remove_all_containers(self.client)
        try:
            self.client.close()
        except Exception:
            pass
        if self.process is not None:
            _stop_process(self.process)
            self.process = None
        if self.root is not None:
            _unmount_below(self.root)
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None


def _remove_all_containers(client: Any) -> None:
    try:
        for c in client.containers.list(all=True):
            c.remove(force=True)
    except Exception:
        pass


def _stop_process(proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _unmount_below(root: Path) -> None:
    """Unmount anything dockerd/containerd left mounted under ``root`` (deepest first)."""
    try:
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return
    prefix = str(root) + "/"
    for mnt in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", mnt], capture_output=True)


def _client(url: str) -> Any:
    import docker

    return docker.DockerClient(base_url=url, timeout=120)


def start_engine(timeout: float = 30.0) -> DockerEngine:
    """Connect to DOCKER_HOST, or start a private dockerd; raises EngineUnavailable."""
    try:
        import docker  # noqa: F401
    except ImportError:
        raise EngineUnavailable("the docker SDK is not installed (pip install docker)") from None
    if os.environ.get("DOCKER_HOST"):
        url = os.environ["DOCKER_HOST"]
        try:
            client = _client(url)
            client.ping()
        except Exception as exc:
            raise EngineUnavailable(f"DOCKER_HOST={url} does not answer: {exc}") from None
        return DockerEngine(client=client, url=url)
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise EngineUnavailable("dockerd is not installed; run .ci/setup_docker.sh "
                                "(apt-get install --no-install-recommends docker.io)")
    if os.geteuid() != 0:
        raise EngineUnavailable("starting a private dockerd needs root; set DOCKER_HOST to an "
                                "engine you may use instead")
    errors = []
    for driver in ("overlay2", "vfs"):
        try:
            return _start_dockerd(dockerd, driver, timeout)
        except EngineUnavailable as exc:
            errors.append(f"{driver}: {exc}")
    raise EngineUnavailable("dockerd did not start. " + " | ".join(errors))


def _start_dockerd(dockerd: str, driver: str, timeout: float) -> DockerEngine:
    # short path: unix socket paths are limited to 108 bytes
    root = Path(tempfile.mkdtemp(prefix="cdk-", dir="/tmp"))
    sock = root / "docker.sock"
    log_path = root / "dockerd.log"
    cmd = [dockerd, "-H", f"unix://{sock}", "--data-root", str(root / "data"),
           "--exec-root", str(root / "exec"), "--pidfile", str(root / "docker.pid"),
           "--storage-driver", driver, *DOCKERD_FLAGS]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    engine = DockerEngine(client=None, url=f"unix://{sock}", process=proc, root=root,
                          log_path=log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = engine.log_tail(5)
            engine.close()
            raise EngineUnavailable(f"exited with {proc.returncode}: {tail}")
        if sock.exists():
            try:
                client = _client(engine.url)
                client.ping()
                engine.client = client
                return engine
            except Exception:
                pass
        time.sleep(0.1)
    tail = engine.log_tail(5)
    engine.close()
    raise EngineUnavailable(f"no answer within {timeout:g} s: {tail}")


# base image ----------------------------------------------------------------------------------
def rootfs_tarball(cache: Path = CACHE) -> Path:
    """The cached python3 rootfs tarball, built with debootstrap on first use."""
    tar = cache / ROOTFS_TAR
    if tar.is_file():
        return tar
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EngineUnavailable(f"cannot create the cache {cache}: {exc.strerror}; set "
                                "CUMULUS_DOCKER_CACHE to a writable folder") from None
    with open(cache / ".rootfs.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one session builds, the others wait and reuse
        if not tar.is_file():
            _build_rootfs(tar)
    return tar


def _build_rootfs(tar: Path) -> None:
    if shutil.which("debootstrap") is None:
        raise EngineUnavailable("debootstrap is not installed (needed once to build the base "
                                "image); run .ci/setup_docker.sh")
    work = Path(tempfile.mkdtemp(prefix="rootfs-", dir=tar.parent))
    rootfs = work / "rootfs"
    try:
        proc = subprocess.run(["debootstrap", "--variant=minbase", "--include=python3",
                               "bookworm", str(rootfs), MIRROR],
                              capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            raise EngineUnavailable(f"debootstrap failed ({proc.returncode}): "
                                    f"{(proc.stdout + proc.stderr)[-800:]}")
        _unmount_below(rootfs)  # debootstrap can leave /proc mounted inside
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc",
                     "usr/share/man", "usr/share/locale"):
            shutil.rmtree(rootfs / junk, ignore_errors=True)
        tmp = tar.with_suffix(".tmp")
        subprocess.run(["tar", "-C", str(rootfs), "--numeric-owner", "--one-file-system", "-cf",
                        str(tmp), "."],
                       check=True, capture_output=True, timeout=600)
        tmp.rename(tar)
    finally:
        _unmount_below(work)
        shutil.rmtree(work, ignore_errors=True)


def ensure_base_image(client: Any, name: str = BASE_IMAGE) -> str:
    """Import the cached rootfs as ``name`` unless the engine has it already."""
    import docker

    try:
        client.images.get(name)
        return name
    except docker.errors.ImageNotFound:
        pass
    tar = rootfs_tarball()
    repo, _, tag = name.partition(":")
    client.api.import_image_from_file(str(tar), repository=repo, tag=tag or "latest",
                                      changes=['CMD ["python3"]'])
    client.images.get(name)
    return name


# pytest fixture ------------------------------------------------------------------------------
def _unavailable(reason: str) -> None:
    if os.environ.get("CUMULUS_REQUIRE_DOCKER") == "1":
        pytest.fail(f"Docker engine required (CUMULUS_REQUIRE_DOCKER=1) but: {reason}")
    pytest.skip(f"no Docker engine: {reason}")


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    """A running engine with ``cumulus-python:3.11`` imported; stopped after the session."""
    try:
        engine = start_engine()
    except EngineUnavailable as exc:
        _unavailable(str(exc))
        raise  # unreachable: skip/fail raise
    try:
        engine.base_image = ensure_base_image(engine.client)
    except EngineUnavailable as exc:
        engine.close()
        _unavailable(str(exc))
    except Exception as exc:
        engine.close()
        _unavailable(f"cannot import the base image: {exc}")
    try:
        yield engine
    finally:
        engine.close()
