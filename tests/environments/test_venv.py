"""Virtual environments on a node: real uv, real PyPI, real concurrent processes."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cumulus import Environment
from cumulus.environment import environment_definition
from cumulus.errors import EnvironmentBuildError
from cumulus.tasks import environments as envs
from cumulus.tasks.environments import cached_venv, ensure_venv, find_uv, prepare_environment

pytestmark = pytest.mark.integration
MISSING = "cumulus-test-no-such-package-4f1c2"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache folder of this test's own, so every environment starts unbuilt."""
    monkeypatch.setenv("CUMULUS_CACHE_DIR", str(tmp_path / "cache"))
    from cumulus._install import install_key

    return tmp_path / "cache" / "installs" / install_key() / "envs"  # this installation's


def _py(python: str, code: str) -> str:
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_build_once_then_cached(cache: Path) -> None:
    env = Environment("pinned", pip=["six==1.16.0"])
    lines: list[str] = []
    python, extra = prepare_environment(None, environment_definition(env), lines.append)
    assert Path(python).parent.parent.parent == cache
    assert any("building a virtualenv" in ln for ln in lines)
    assert any(ln.startswith("[uv]") and "six==1.16.0" in ln for ln in lines)
    # the environment's pin wins over the worker's own six (1.17 in the project venv)
    assert _py(python, "import six; print(six.__version__)") == "1.16.0"
    assert extra["VIRTUAL_ENV"] == str(Path(python).parent.parent)
    assert extra["PATH"].startswith(str(Path(python).parent) + os.pathsep)
    info = cached_venv(env).info  # type: ignore[union-attr]
    assert info["build_hash"] == env.build_hash and info["definition"]["pip"] == env.pip
    again: list[str] = []
    assert prepare_environment(None, environment_definition(env), again.append)[0] == python
    assert again == [f"[cumulus] environment 'pinned': using cached virtualenv "
                     f"{Path(python).parent.parent.name}"]
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == \
        [Path(python).parent.parent.name]


def test_inherit_packages_layers_the_worker_behind(cache: Path) -> None:
    shared = Environment("inh", pip=["six==1.16.0"])
    iso = Environment("iso", pip=["six==1.16.0"], inherit_packages=False)
    py_shared = prepare_environment(None, environment_definition(shared), lambda s: None)[0]
    py_iso = prepare_environment(None, environment_definition(iso), lambda s: None)[0]
    assert py_shared != py_iso
    # numpy is not in the environment: it comes from the worker, after the env's own packages
    code = "import six, numpy, sys; print(six.__version__, numpy.__file__)"
    six_version, numpy_file = _py(py_shared, code).split()
    assert six_version == "1.16.0"
    assert numpy_file.startswith(tuple(site.getsitepackages()))
    proc = subprocess.run([py_iso, "-c", "import numpy"], capture_output=True, text=True)
    assert proc.returncode != 0 and "No module named 'numpy'" in proc.stderr
    assert _py(py_iso, "import six; print(six.__version__)") == "1.16.0"


def test_nonexistent_package_fails_with_uv_message_and_caches_nothing(cache: Path) -> None:
    env = Environment("broken", pip=[MISSING])
    lines: list[str] = []
    with pytest.raises(EnvironmentBuildError) as info:
        ensure_venv(env, lines.append)
    msg = str(info.value)
    assert "Environment 'broken' failed to build: uv pip install exited with code" in msg
    assert f"{MISSING} was not found in the package registry" in msg
    assert "nothing was cached" in msg
    assert "Using Python" not in msg  # the message starts at uv's error
    assert any(MISSING in ln and ln.startswith("[uv]") for ln in lines)
    assert cached_venv(env) is None
    assert not [p for p in cache.iterdir() if not p.name.endswith(".lock")]
    with pytest.raises(EnvironmentBuildError):  # not cached: the next attempt builds again
        ensure_venv(env, lines.append)
    assert sum("building a virtualenv" in ln for ln in lines) == 2


def test_unknown_python_version_fails_in_uv_venv(cache: Path, monkeypatch: pytest.MonkeyPatch,
                                                  ) -> None:
    monkeypatch.setenv("UV_PYTHON_DOWNLOADS", "never")  # this machine has no route to GitHub
    env = Environment("newpy", python="3.99", pip=["six"])
    with pytest.raises(EnvironmentBuildError, match=r"(?s)uv venv exited with code .*3\.99"):
        ensure_venv(env, lambda s: None)
    assert cached_venv(env) is None


CONCURRENT = textwrap.dedent("""
    import json, sys
    from cumulus.environment import Environment
    from cumulus.tasks.environments import ensure_venv
    import os
    lines = []
    def log(line):
        lines.append(line)
        if "waiting" in line:     # tell the test this process waits for the build lock
            with open(os.environ["WAIT_MARKS"], "a") as fh:
                fh.write("w\\n")
    env = Environment.from_dict(json.loads(sys.argv[1]))
    venv = ensure_venv(env, log)
    print(json.dumps({"path": str(venv.path), "lines": lines}))
""")


def _waiters(marks: Path) -> int:
    """Processes that said they wait for the build lock (the script's log marks it)."""
    return len(marks.read_text().split()) if marks.exists() else 0


def test_concurrent_processes_build_once(cache: Path, tmp_path: Path) -> None:
    import fcntl
    import time

    env = Environment("shared", pip=["six==1.15.0"], inherit_packages=False)
    script = tmp_path / "build.py"
    script.write_text(CONCURRENT)
    cache.mkdir(parents=True)
    lock = cache / f"{envs.venv_key(env)}.lock"
    marks = tmp_path / "waiting"
    with open(lock, "a+") as held:  # hold the build lock until all three runs wait on it
        fcntl.flock(held, fcntl.LOCK_EX)
        procs = [subprocess.Popen([sys.executable, str(script), json.dumps(env.to_dict())],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env={**os.environ, "CUMULUS_CACHE_DIR": str(tmp_path / "cache"),
                                       "WAIT_MARKS": str(marks)})
                 for _ in range(3)]
        deadline = time.monotonic() + 60
        while _waiters(marks) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _waiters(marks) == 3
        fcntl.flock(held, fcntl.LOCK_UN)
    results = []
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    assert len({r["path"] for r in results}) == 1
    kinds = sorted("built" if any("building a virtualenv" in ln for ln in r["lines"]) else
                   "reused" if any("built by another run" in ln for ln in r["lines"]) else "?"
                   for r in results)
    assert kinds == ["built", "reused", "reused"], [r["lines"] for r in results]
    assert all(any("waiting" in ln for ln in r["lines"]) for r in results)
    assert [p.name for p in cache.iterdir() if p.name.startswith(".build-")] == []


def test_find_uv_prefers_the_interpreters_sibling(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    uv = find_uv()
    assert subprocess.run([*uv, "--version"], capture_output=True).returncode == 0
    fake = tmp_path / "bin" / "python"
    fake.parent.mkdir()
    fake.symlink_to(sys.executable)
    monkeypatch.setattr(envs.sys, "executable", str(fake))
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setitem(sys.modules, "uv", None)  # as if the uv package were not installed
    with pytest.raises(EnvironmentBuildError, match="needs uv.*pip install uv"):
        find_uv()
