"""Container runs: images built once per hash on a node, scripts run inside through docker.

Images (built in the Preparing phase by :func:`ensure_image`, under a per-node file lock):

- ``image=`` alone: the image itself, which must exist on the node's engine or be pullable.
- ``dockerfile=``: built from the Dockerfile text with an empty build context (``RUN`` steps
  use the host network, so ``RUN pip install ...`` works wherever the node has a network),
  tagged ``cumulus-env:df-<hash of the text>`` and reused while that tag exists.
- ``pip``/``requirements_file`` on top of either: a derived image tagged
  ``cumulus-env:<hash of the build hash and the base image id>``. The packages are installed on
  the node with uv (``--target``, for the base image's Python version and platform, probed
  at build time)
  and copied in, so the base image needs neither pip nor network access. They come first on
  ``PYTHONPATH`` (``/opt/cumulus/site``), so their pins win over the image's own packages.

Running (see :func:`wrap_for_container`): the executor launches ``python -m
cumulus.tasks.containers SPEC`` instead of the script. That small process creates the
container, copies its output to its own stdout (so the executor's log streaming is unchanged),
exits with the container's exit code, and on SIGTERM (cancel, timeout) stops the container; if
the executor's process dies, it gets SIGTERM too (``PR_SET_PDEATHSIG``), so a lost worker does
not leave its container running. The run folder (snapshot, inputs, outputs, logs, control
files) is bind-mounted at the same path, the node cache read-only at its path (inputs may link
into it), and the ``cumulus`` package read-only at ``/opt/cumulus/lib`` so
``Run.get_context()`` works with the image's own Python (3.10 or newer, full standard library).
Resource requests become limits: ``cpus`` -> CPU quota, ``memory`` -> memory limit. Containers
use the host network (like a subprocess run) and run as the worker's uid:gid, so files they
write belong to the worker.

The engine is the worker's ``CUMULUS_DOCKER_HOST``, else ``DOCKER_HOST``, else the default
socket.

Example::

    env = Environment("box", image="cumulus-python:3.11", pip=["six"])
    ScriptRunConfig(source_directory="src", script="train.py", environment=env)
"""

from __future__ import annotations

import io
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cumulus._hashing import text_digest
from cumulus.environment import Environment
from cumulus.errors import EnvironmentBuildError, MissingDependencyError

REPO = "cumulus-env"
SITE = "/opt/cumulus/site"
LIB = "/opt/cumulus/lib"
SPEC_NAME = "container.json"
STOP_GRACE = 2  # seconds between SIGTERM and SIGKILL; the executor waits 3 s
START_FAILED = 125  # like `docker run`: the container could not be started
Log = Callable[[str], None]
_CLIENTS: dict[str, Any] = {}
PROBE = """import os, sys
try:
    libc = os.confstr("CS_GNU_LIBC_VERSION") or "musl"
except (ValueError, OSError):
    libc = "musl"
print(sys.version_info[0], sys.version_info[1], os.uname().machine, libc)
"""


# the engine ------------------------------------------------------------------------------
def docker_client() -> Any:
    """A docker SDK client for this node's engine.

    ``CUMULUS_DOCKER_HOST`` (the engine for Cumulus runs only) wins over ``DOCKER_HOST``;
    without either, the default socket.
    """
    try:
        import docker
    except ImportError:
        raise MissingDependencyError("Running in a container", "docker", "docker") from None
    own = os.environ.get("CUMULUS_DOCKER_HOST")
    key = own or os.environ.get("DOCKER_HOST") or ""
    if key in _CLIENTS:  # a worker process keeps one client per engine
        return _CLIENTS[key]
    try:
        client = (docker.DockerClient(base_url=own, timeout=300) if own
                  else docker.from_env(timeout=300))
        client.ping()
    except Exception as exc:
        where = own or os.environ.get("DOCKER_HOST") or "the default socket"
        raise EnvironmentBuildError(
            f"No Docker engine answers at {where} on this node ({type(exc).__name__}: {exc}). "
            "Start dockerd on the worker nodes, or set CUMULUS_DOCKER_HOST (or DOCKER_HOST) "
            "in the workers' environment to its socket, e.g. unix:///run/docker.sock.") \
            from None
    _CLIENTS[key] = client
    return client


def _hash(*parts: str) -> str:
    return text_digest("|".join(parts), 24)


def _dockerfile_tag(env: Environment) -> str:
    return f"{REPO}:df-{_hash(env.dockerfile or '')}"


def _get(client: Any, ref: str) -> Any | None:
    import docker.errors

    try:
        return client.images.get(ref)
    except docker.errors.ImageNotFound:
        return None


# building --------------------------------------------------------------------------------
def image_tag(env: Environment, client: Any | None = None) -> str:
    """The image a run of ``env`` uses on this node (it may not be built yet)."""
    client = client or docker_client()
    if not env.all_requirements:
        return env.image or _dockerfile_tag(env)
    base = _get(client, env.image or _dockerfile_tag(env))
    base_id = base.id if base is not None else "missing"
    return f"{REPO}:{_hash(env.build_hash, base_id)}"


def cached_image(env: Environment, client: Any | None = None) -> bool:
    """Whether the run image of ``env`` exists on this node's engine."""
    client = client or docker_client()
    return _get(client, image_tag(env, client)) is not None


def ensure_image(env: Environment, log: Log) -> str:
    """The run image of ``env`` on this node, built on first use; returns its tag."""
    client = docker_client()
    tag = image_tag(env, client)
    if _get(client, tag) is not None:
        log(f"[cumulus] environment {env.name!r}: using cached image {tag}")
        return tag
    with _lock(env, log):
        base = _base_image(env, client, log)
        if not env.all_requirements:
            return base
        tag = image_tag(env, client)
        if _get(client, tag) is not None:
            log(f"[cumulus] environment {env.name!r}: built by another run, using {tag}")
            return tag
        _build_pip_layer(env, client, base, tag, log)
        return tag


@contextmanager
def _lock(env: Environment, log: Log) -> Iterator[None]:
    from cumulus._procs import file_lock
    from cumulus.snapshot import cache_dir

    with file_lock(cache_dir() / "images" / f"{env.build_hash}.lock", waiting=lambda: log(
            f"[cumulus] environment {env.name!r}: another run is building its image on "
            "this node; waiting")):
        yield


def _base_image(env: Environment, client: Any, log: Log) -> str:
    if env.image:
        if _get(client, env.image) is None:
            _pull(env, client, log)
        return env.image
    tag = _dockerfile_tag(env)
    if _get(client, tag) is not None:
        log(f"[cumulus] environment {env.name!r}: using cached Dockerfile image {tag}")
        return tag
    log(f"[cumulus] environment {env.name!r}: building its Dockerfile as {tag}")
    _build(env, client, {"Dockerfile": (env.dockerfile or "").encode()}, tag, log,
           "its Dockerfile")
    return tag


def _pull(env: Environment, client: Any, log: Log) -> None:
    import docker.errors

    log(f"[cumulus] environment {env.name!r}: image {env.image!r} is not on this node; "
        "pulling it")
    try:
        client.images.pull(env.image)
    except docker.errors.APIError as exc:
        raise EnvironmentBuildError(
            f"Environment {env.name!r}: image {env.image!r} does not exist on this node's "
            f"Docker engine and could not be pulled: {exc.explanation or exc}. Check the "
            "name and tag (e.g. 'python:3.11-slim'), or load the image on the node first "
            "(docker load / docker build).") from None


def _build(env: Environment, client: Any, files: dict[str, bytes], tag: str, log: Log,
           what: str) -> None:
    """``docker build`` of an in-memory context, streaming its output into the log."""
    import tarfile  # here, not at the top: the launcher process does not need it
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    _build_stream(env, client, context, tag, log, what)


def _build_stream(env: Environment, client: Any, context: Any, tag: str, log: Log,
                  what: str) -> None:
    tail: list[str] = []
    labels = {"cumulus.environment": env.name, "cumulus.build_hash": env.build_hash}
    stream = client.api.build(fileobj=context, custom_context=True, tag=tag, rm=True,
                              forcerm=True, decode=True, network_mode="host", labels=labels)
    error = None
    for item in stream:
        text = item.get("stream") or item.get("status") or ""
        for line in text.splitlines():
            if line.strip():
                tail.append(line.rstrip())
                log(f"[docker] {line.rstrip()}")
        if "error" in item:
            error = item.get("errorDetail", {}).get("message") or item["error"]
    if error is not None or _get(client, tag) is None:
        shown = "\n".join(tail[-15:])
        raise EnvironmentBuildError(
            f"Environment {env.name!r}: building {what} failed: {error or 'no image produced'}"
            f"\n{shown}\nFix the Dockerfile step named above (the build context is empty; use "
            "RUN, not COPY). Nothing was cached, so the next run builds it again.")


def _probe(env: Environment, client: Any, base: str) -> tuple[str, str]:
    """(python version 'X.Y', uv platform) of the interpreter inside ``base``."""
    import docker.errors

    python = env.python or "python3"
    try:
        out = client.containers.run(base, [python, "-c", PROBE], remove=True,
                                    network_mode="none", entrypoint=[])
    except (docker.errors.ContainerError, docker.errors.APIError) as exc:
        raise EnvironmentBuildError(
            f"Environment {env.name!r}: cannot run {python!r} in image {base!r} to install "
            f"pip packages for it: {exc}. Use an image with Python 3 (set python= to its "
            "interpreter command if it is not 'python3').") from None
    return parse_probe(out.decode())


def parse_probe(output: str) -> tuple[str, str]:
    """('3.11', 'x86_64-manylinux_2_36') from the probe's '3 11 x86_64 glibc 2.36'."""
    major, minor, machine, libc = output.strip().split(maxsplit=3)
    return f"{major}.{minor}", _platform(machine, libc)


def _platform(machine: str, libc: str) -> str:
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    if arch not in ("x86_64", "aarch64"):
        return "linux"
    if libc == "musl":
        return f"{arch}-unknown-linux-musl"
    try:
        minor = int(libc.rsplit(".", 1)[-1])
    except ValueError:
        return "linux"
    if minor < 17:
        return "linux"
    if minor < 28:
        return f"{arch}-manylinux_2_17"
    return f"{arch}-manylinux_2_{min(minor, 40)}"


def _build_pip_layer(env: Environment, client: Any, base: str, tag: str, log: Log) -> None:
    import tarfile
    import tempfile

    from cumulus.tasks.environments import find_uv, run_uv

    version, platform = _probe(env, client, base)
    log(f"[cumulus] environment {env.name!r}: installing {len(env.all_requirements)} "
        f"requirement(s) for Python {version} ({platform}) into image {tag}")
    with tempfile.TemporaryDirectory(prefix="cumulus-image-") as tmp:
        ctx = Path(tmp)
        (ctx / "requirements.txt").write_text("\n".join(env.all_requirements) + "\n")
        run_uv(env, [*find_uv(), "pip", "install", "--target", str(ctx / "site"),
                     "--python-version", version, "--python-platform", platform,
                     "-r", str(ctx / "requirements.txt")], log, "uv pip install", ctx)
        (ctx / "Dockerfile").write_text(
            f"FROM {base}\nCOPY site {SITE}\nENV PYTHONPATH={SITE}\n")
        context = io.BytesIO()
        with tarfile.open(fileobj=context, mode="w") as tar:
            tar.add(ctx / "Dockerfile", "Dockerfile")
            tar.add(ctx / "site", "site")
        context.seek(0)
        _build_stream(env, client, context, tag, log, "the pip layer")


# running ---------------------------------------------------------------------------------
def is_container_definition(definition: dict[str, Any]) -> bool:
    env = definition.get("environment") or {}
    return bool(env.get("image") or env.get("dockerfile"))


def wrap_for_container(definition: dict[str, Any], argv: list[str], env: dict[str, str],
                       run_dir: Path, log: Log) -> list[str]:
    """The command the executor launches: ``argv`` itself, or the container launcher.

    Called at the end of Preparing, after :func:`ensure_image`; writes the container spec
    into the run's control folder.
    """
    if not is_container_definition(definition):
        return argv
    environment = Environment.from_dict(definition["environment"])
    client = docker_client()
    image = image_tag(environment, client)
    spec = {"image": image, "command": argv, "working_dir": str(run_dir),
            "environment": _container_env(definition, environment, env, run_dir, client, image),
            "mounts": _mounts(run_dir, env), "user": f"{os.getuid()}:{os.getgid()}",
            "limits": _limits(definition.get("resources") or {}),
            "labels": {"cumulus.run_id": env.get("CUMULUS_RUN_ID", ""),
                       "cumulus.environment": environment.name},
            "name": _container_name(env.get("CUMULUS_RUN_ID", "run"))}
    path = Path(env.get("CUMULUS_CONTROL_DIR") or run_dir) / SPEC_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(spec))
    log(f"[cumulus] running in a container of {image}")
    return [sys.executable, "-m", "cumulus.tasks.containers", str(path)]


def _container_name(run_id: str) -> str:
    clean = "".join(c if c.isalnum() or c in "_.-" else "-" for c in run_id)
    return f"cumulus-{clean}"[:200]


def _container_env(definition: dict[str, Any], environment: Environment, env: dict[str, str],
                   run_dir: Path, client: Any, image: str) -> dict[str, str]:
    """What the executor set for the script, without the worker's own environment."""
    chosen = {k for k, v in env.items() if os.environ.get(k) != v or k.startswith("CUMULUS_")}
    chosen |= set(environment.env_vars) | set(definition.get("environment_variables") or {})
    chosen |= {"PYTHONUNBUFFERED"}
    chosen -= {"PATH", "VIRTUAL_ENV", "PYTHONPATH", "HOME", "CUMULUS_CACHE_DIR"}
    out = {k: env[k] for k in chosen if k in env}
    image_env = dict(e.split("=", 1) for e in
                     (client.images.get(image).attrs.get("Config") or {}).get("Env") or []
                     if "=" in e)
    out["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(run_dir), LIB, image_env.get("PYTHONPATH")]))
    return out


def _mounts(run_dir: Path, env: dict[str, str]) -> list[tuple[str, str, str]]:
    import cumulus
    from cumulus.snapshot import cache_dir

    package = str(Path(cumulus.__file__).resolve().parent)
    cache = str(cache_dir())
    mounts = [(cache, cache, "ro"), (str(run_dir), str(run_dir), "rw"),
              (package, f"{LIB}/cumulus", "ro")]
    for key, value in env.items():  # data paths materialized outside the run folder
        if key.startswith(("CUMULUS_INPUT_", "CUMULUS_OUTPUT_")) and os.path.isabs(value) \
                and os.path.exists(value) and not _under(value, run_dir):
            mounts.append((value, value, "rw" if key.startswith("CUMULUS_OUTPUT_") else "ro"))
    return mounts


def _under(path: str, root: Path) -> bool:
    try:
        Path(path).resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def _limits(resources: dict[str, Any]) -> dict[str, int]:
    from cumulus.compute._config import parse_memory

    out = {}
    if resources.get("cpus"):
        out["nano_cpus"] = int(float(resources["cpus"]) * 1e9)
    if resources.get("memory"):
        out["mem_limit"] = int(parse_memory(resources["memory"]) or 0)
    return {k: v for k, v in out.items() if v}


# the launcher process --------------------------------------------------------------------
def launch(spec: dict[str, Any]) -> int:
    """Run the container of ``spec``; its output goes to stdout. Returns its exit code."""
    import docker.errors

    client = docker_client()
    volumes = {host: {"bind": inside, "mode": mode} for host, inside, mode in spec["mounts"]}
    options = dict(command=spec["command"], working_dir=spec["working_dir"],
                   environment=spec["environment"], volumes=volumes, user=spec["user"],
                   labels=spec["labels"], name=spec["name"], network_mode="host",
                   entrypoint=[], init=True, detach=True, **spec["limits"])
    try:
        try:
            container = client.containers.create(spec["image"], **options)
        except docker.errors.APIError as exc:
            if exc.status_code != 409:
                raise
            # a container of an earlier attempt of this run (its node was lost): replace it
            client.containers.get(spec["name"]).remove(force=True)
            container = client.containers.create(spec["image"], **options)
    except docker.errors.APIError as exc:
        _say(f"[cumulus] the container could not be created: {exc.explanation or exc}")
        return START_FAILED
    stopper, previous = _install_stop_handler(container)
    try:
        container.start()
        out = sys.stdout.buffer
        for chunk in container.logs(stream=True, follow=True, stdout=True, stderr=True):
            out.write(chunk)
            out.flush()
        code = int(container.wait().get("StatusCode", START_FAILED))
    except docker.errors.APIError as exc:
        _say(f"[cumulus] the container failed: {exc.explanation or exc}")
        code = START_FAILED
    finally:
        stopper.set()
        try:
            container.remove(force=True)
        except docker.errors.APIError:
            pass
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return code


def _install_stop_handler(container: Any) -> tuple[threading.Event, dict[int, Any]]:
    """SIGTERM/SIGINT stop the container (then its exit ends the launcher)."""
    done = threading.Event()

    def stop(signum: int, frame: Any) -> None:
        if done.is_set():
            return
        threading.Thread(target=_stop, args=(container,), daemon=True).start()

    previous: dict[int, Any] = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    return done, previous


def _stop(container: Any) -> None:
    try:
        container.stop(timeout=STOP_GRACE)
    except Exception:
        pass


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _term_with_parent() -> None:
    """Get SIGTERM (stop the container, then exit) when the executor's process dies, instead
    of being killed outright and leaving the container running."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        _say("usage: python -m cumulus.tasks.containers SPEC.json")
        return 2
    _term_with_parent()
    spec = json.loads(Path(argv[0]).read_text())
    try:
        return launch(spec)
    except (EnvironmentBuildError, MissingDependencyError) as exc:
        _say(f"[cumulus] {exc}")
        return START_FAILED


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


__all__ = ["cached_image", "docker_client", "ensure_image", "image_tag", "launch",
           "wrap_for_container"]
