"""Installs are isolated: caches that point into an installation are keyed by it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = (
    "import json; from cumulus._install import install_key, install_cache_dir, cache_dir;"
    "from cumulus.tasks.executor import package_path;"
    "from cumulus.tasks.environments import envs_dir;"
    "print(json.dumps({'key': install_key(), 'envs': str(envs_dir()),"
    " 'pylib': package_path(), 'shared': str(cache_dir()), 'prefix': __import__('sys').prefix}))"
)


def _probe(python: str, cache: Path, src: Path) -> dict[str, str]:
    env = {**os.environ, "CUMULUS_CACHE_DIR": str(cache), "PYTHONPATH": str(src)}
    out = subprocess.run([python, "-c", PROBE], env=env, capture_output=True, text=True,
                         timeout=60, check=True)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture(scope="module")
def other_checkout(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A second checkout of another version in a second virtualenv on the same base
    interpreter, with the same third-party packages (what a colleague's clone has)."""
    root = tmp_path_factory.mktemp("other")
    src = root / "src"
    shutil.copytree(SRC / "cumulus", src / "cumulus",
                    ignore=shutil.ignore_patterns("__pycache__"))
    init = src / "cumulus" / "__init__.py"
    init.write_text(init.read_text().replace('__version__ = "', '__version__ = "9.9.9+other-'))
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "uv", "venv", "-q", "--python", sys.executable,
                    str(venv)], check=True, timeout=120)
    site_dir = next(venv.glob("lib/python*/site-packages"))
    deps = [p for p in sys.path if p.endswith("site-packages")]
    (site_dir / "deps.pth").write_text("\n".join(deps) + "\n")
    return str(venv / "bin" / "python"), src


def test_two_installations_never_share_built_caches(
        tmp_path: Path, other_checkout: tuple[str, Path]) -> None:
    other_python, other_src = other_checkout
    mine = _probe(sys.executable, tmp_path, SRC)
    theirs = _probe(other_python, tmp_path, other_src)
    assert mine["prefix"] != theirs["prefix"]
    assert mine["key"] != theirs["key"]
    assert mine["envs"] != theirs["envs"]
    assert mine["pylib"] != theirs["pylib"]
    # each installation's link exposes its own package and is never re-pointed by the other
    for info, src in ((mine, SRC), (theirs, other_src)):
        link = Path(info["pylib"]) / "cumulus"
        assert link.resolve() == (src / "cumulus").resolve()
    # using one installation again does not re-point the other's link
    _probe(sys.executable, tmp_path, SRC)
    assert (Path(theirs["pylib"]) / "cumulus").resolve() == (other_src / "cumulus").resolve()
    # content-addressed data stays shared
    assert mine["shared"] == theirs["shared"] == str(tmp_path)


def test_same_installation_gets_the_same_key(tmp_path: Path) -> None:
    assert _probe(sys.executable, tmp_path, SRC)["key"] == \
        _probe(sys.executable, tmp_path, SRC)["key"]
