"""Run environments on a node: the interpreter a run's script executes with.

A ``virtualenv`` environment becomes a virtual environment built with uv under
``install_cache_dir()/envs/<key>``, where ``key`` hashes the environment's build hash and the
installation (interpreter prefix, Cumulus version). It is built once per node: a build runs
under a file lock into a temporary folder that is renamed into place only when it succeeded
(``uv venv --relocatable`` makes that rename safe), so concurrent runs wait for one build
and a failed build leaves nothing behind. A cached
environment costs one ``stat``.

``inherit_packages=True`` writes a ``.pth`` file into the new environment that adds the
worker's site-packages folders (with their own ``.pth`` files). Python appends them to
``sys.path`` *after* the environment's own site-packages, so the environment's pins win and
anything it lacks comes from the worker. uv does not count inherited packages when it
resolves, so an environment is always complete on its own; inheritance only adds what it does
not list. It applies only when the environment's Python has the worker's major.minor version.
``inherit_packages=False`` gives an isolated environment (the ``cumulus`` package itself still
reaches the script through the executor's PYTHONPATH).

Example::

    python, env = prepare_environment(ws, {"pip": ["six"], "name": "tiny"}, log=print)
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import site
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cumulus._hashing import text_digest
from cumulus.environment import Environment
from cumulus.errors import EnvironmentBuildError

MARKER = "cumulus-env.json"
INHERIT_PTH = "_cumulus_inherit.pth"
TAIL_LINES = 25
Log = Callable[[str], None]


def prepare_environment(ws: Any, definition: dict[str, Any] | None,
                        log: Log) -> tuple[str, dict[str, str]]:
    """(python executable, extra env vars) for a run's environment definition.

    Container environments are built here too (the Preparing phase); their "python" is the
    interpreter command inside the image, which ``cumulus.tasks.containers`` runs.
    """
    if not definition:
        return sys.executable, {}
    env = Environment.from_dict(definition)
    env_vars = dict(env.env_vars)
    if env.is_default:
        return sys.executable, env_vars
    if env.is_container:
        from cumulus.tasks.containers import ensure_image

        ensure_image(env, log)
        return env.python or "python3", env_vars
    venv = ensure_venv(env, log)
    path = os.pathsep.join(filter(None, [str(venv.bin), os.environ.get("PATH")]))
    return str(venv.python), {**env_vars, "VIRTUAL_ENV": str(venv.path), "PATH": path}


# the cache ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class CachedVenv:
    """A built virtual environment on this node."""

    path: Path

    @property
    def bin(self) -> Path:
        return self.path / "bin"

    @property
    def python(self) -> Path:
        return self.bin / "python"

    @property
    def info(self) -> dict[str, Any]:
        return json.loads((self.path / MARKER).read_text())


def envs_dir() -> Path:
    """Environments built by this installation (their ``.pth`` files point into it)."""
    from cumulus._install import install_cache_dir

    return install_cache_dir() / "envs"


def venv_key(env: Environment) -> str:
    """The cache key on this node: the build hash and the interpreter that builds it."""
    from cumulus._install import install_key

    return text_digest(f"{env.build_hash}|{install_key()}", 24)


def cached_venv(env: Environment) -> CachedVenv | None:
    """The built environment for ``env`` on this node, or None."""
    venv = CachedVenv(envs_dir() / venv_key(env))
    return venv if (venv.path / MARKER).is_file() else None


def list_cached() -> list[dict[str, Any]]:
    """The marker documents of every environment built on this node."""
    out = []
    for marker in sorted(envs_dir().glob(f"*/{MARKER}")):
        try:
            out.append({**json.loads(marker.read_text()), "path": str(marker.parent)})
        except (OSError, ValueError):
            continue
    return out


def ensure_venv(env: Environment, log: Log) -> CachedVenv:
    """The environment's virtualenv on this node, built on first use (once per node)."""
    hit = cached_venv(env)
    if hit is not None:
        log(f"[cumulus] environment {env.name!r}: using cached virtualenv {hit.path.name}")
        return hit
    root = envs_dir()
    root.mkdir(parents=True, exist_ok=True)
    key = venv_key(env)
    with _file_lock(root / f"{key}.lock", log, env.name):
        hit = cached_venv(env)
        if hit is not None:
            log(f"[cumulus] environment {env.name!r}: built by another run, reusing it")
            return hit
        return _build(env, root, key, log)


@contextmanager
def _file_lock(path: Path, log: Log, name: str) -> Iterator[None]:
    from cumulus._procs import file_lock

    with file_lock(path, waiting=lambda: log(
            f"[cumulus] environment {name!r}: another run is building it on this node; "
            "waiting")):
        yield


# building ----------------------------------------------------------------------------------
def _build(env: Environment, root: Path, key: str, log: Log) -> CachedVenv:
    started = time.monotonic()
    tmp = root / f".build-{key}-{uuid.uuid4().hex[:8]}"
    final = root / key
    uv = find_uv()
    reqs = env.all_requirements
    log(f"[cumulus] environment {env.name!r}: building a virtualenv with uv "
        f"({len(reqs)} requirement(s)) in {final}")
    try:
        python = env.python or sys.executable
        run_uv(env, [*uv, "venv", "--relocatable", "--python", python, str(tmp)],
            log, "uv venv", root)
        if env.inherit_packages:
            _inherit(tmp, log)
        if reqs:
            req_file = tmp / "cumulus-requirements.txt"
            req_file.write_text("\n".join(reqs) + "\n")
            run_uv(env, [*uv, "pip", "install", "--python", str(tmp / "bin" / "python"),
                      "-r", str(req_file)], log, "uv pip install", root)
        seconds = time.monotonic() - started
        (tmp / MARKER).write_text(json.dumps({
            "key": key, "name": env.name, "build_hash": env.build_hash,
            "definition": env.to_dict(), "builder": os.path.realpath(sys.executable),
            "built_at": time.time(), "build_seconds": round(seconds, 3)}, indent=1))
        if final.exists():  # a leftover without a marker (e.g. deleted by hand)
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log(f"[cumulus] environment {env.name!r}: built in {seconds:.1f}s")
    return CachedVenv(final)


def _inherit(venv: Path, log: Log) -> None:
    cfg = _pyvenv_cfg(venv)
    mine = f"{sys.version_info[0]}.{sys.version_info[1]}"
    theirs = ".".join(cfg.get("version_info", "").split(".")[:2])
    if theirs != mine:
        log(f"[cumulus] inherit_packages: the environment's Python is {theirs or '?'}, the "
            f"worker's is {mine}; not inheriting the worker's packages")
        return
    dirs = [d for d in [*site.getsitepackages(), site.getusersitepackages()] if os.path.isdir(d)]
    targets = list((venv / "lib").glob("python*/site-packages"))
    for target in targets:
        # addsitedir also runs the worker's own .pth files (editable installs, namespaces)
        (target / INHERIT_PTH).write_text(
            "".join(f"import site; site.addsitedir({d!r})\n" for d in dirs))


def _pyvenv_cfg(venv: Path) -> dict[str, str]:
    out = {}
    for line in (venv / "pyvenv.cfg").read_text().splitlines():
        k, sep, v = line.partition("=")
        if sep:
            out[k.strip()] = v.strip()
    return out


def run_uv(env: Environment, argv: list[str], log: Log, what: str, cwd: Path) -> None:
    """Run uv, streaming its output into the run log; raise with its message on failure."""
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env={**os.environ, "NO_COLOR": "1"},
                            text=True, errors="replace")
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip("\n")
        tail.append(line)
        log(f"[uv] {line}")
    code = proc.wait()
    if code != 0:
        lines = list(tail)
        first_error = next((i for i, ln in enumerate(lines) if ln.startswith("error")), 0)
        message = "\n".join(lines[first_error:]).strip() or "(no output)"
        raise EnvironmentBuildError(
            f"Environment {env.name!r} failed to build: {what} exited with code {code}:\n"
            f"{message}\nRequested packages: {env.all_requirements or '(none)'}, python: "
            f"{env.python or 'default'}. Fix the requirement or Python version named above; "
            "nothing was cached, so the next run builds it again.")


def find_uv() -> list[str]:
    """The command that runs uv: next to this interpreter, the ``uv`` package, or PATH."""
    sibling = Path(sys.executable).parent / "uv"
    if sibling.is_file() and os.access(sibling, os.X_OK):
        return [str(sibling)]
    try:
        import uv

        return [uv.find_uv_bin()]
    except (ImportError, FileNotFoundError, AttributeError):
        pass
    found = shutil.which("uv")
    if found:
        return [found]
    raise EnvironmentBuildError(
        "Building an environment with packages needs uv, which was found neither next to "
        f"{sys.executable} nor on PATH. Install it on the worker nodes with: "
        f"{sys.executable} -m pip install uv")
