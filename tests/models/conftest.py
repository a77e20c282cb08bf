"""Fixtures of the model tests: a workspace whose services are always deleted, a scoring
script, and models whose content says which version answered.

The Docker fixture ``docker_engine`` comes from tests/dockerd.py (a private dockerd).
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the dockerd helper
from dockerd import docker_engine  # noqa: F401  (registers the session fixture)

SCORE_PY = textwrap.dedent('''
    import json, os, time

    input_sample = {"data": [1, 2]}

    def init():
        global model
        with open(os.path.join(os.environ["CUMULUS_MODEL_DIR"], "model.json")) as fh:
            model = json.load(fh)
        time.sleep(model.get("init_sleep", 0))
        if model.get("init_fail"):
            raise RuntimeError("init failed on purpose")

    def run(raw_data):
        data = json.loads(raw_data)
        if "fail" in data:
            raise ValueError("SECRET-DETAIL " + str(data["fail"]))
        if "sleep" in data:
            time.sleep(data["sleep"])
        return {"version": model["version"], "y": [model["w"] * x for x in data.get("data", [])],
                "env": os.environ.get("SCORE_FLAVOUR")}
''')


def stop_services(ws: Any) -> None:
    """Delete every service of ``ws`` (their processes and containers)."""
    from cumulus.models import Webservice

    for svc in Webservice.list(ws):
        try:
            svc.delete()
        except Exception:
            pass


@pytest.fixture(scope="module")
def mws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A workspace per test module; its services are deleted afterwards, whatever happened."""
    from cumulus import Workspace

    ws = Workspace.create("models", path=tmp_path_factory.mktemp("mws"))
    yield ws
    stop_services(ws)


@pytest.fixture(scope="module")
def score_src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("score_src")
    (src / "score.py").write_text(SCORE_PY)
    return src


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``model_file(version="v1", w=2, **extra)`` -> a model.json in a fresh folder."""
    root = tmp_path_factory.mktemp("model_files")
    counter = [0]

    def make(version: str = "v1", w: float = 2, **extra: Any) -> Path:
        counter[0] += 1
        folder = root / f"m{counter[0]}"
        folder.mkdir()
        path = folder / "model.json"
        path.write_text(json.dumps({"version": version, "w": w, **extra}))
        return path

    return make
