"""The scoring server itself: self-containment, serialisation, reloads of sibling modules,
entry scripts that break at run time, and a bad spec."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import numpy as np
import pytest

import cumulus.models.server as server_pkg
from cumulus.errors import DeploymentError
from cumulus.models import InferenceConfig, LocalWebservice, Model
from cumulus.models.server.app import dumps

SERVER_DIR = Path(server_pkg.__file__).parent


def test_server_package_is_self_contained() -> None:
    """It is copied into images as ``cumulus_scoring``: only relative imports of itself."""
    allowed = {"fastapi", "uvicorn", "orjson"} | set(sys.stdlib_module_names)
    for path in SERVER_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"


def test_dumps_handles_numpy_and_falls_back() -> None:
    value = {"a": np.arange(3), "b": np.float32(0.5), "c": {1, 2}, "d": 2 ** 70}
    assert json.loads(dumps(value)) == {"a": [0, 1, 2], "b": 0.5, "c": [1, 2], "d": 2 ** 70}
    with pytest.raises(TypeError, match="object is not JSON serializable"):
        dumps(object())


def _service(ws, name, src, model):  # type: ignore[no-untyped-def]
    return Model.deploy(ws, name, [model],
                        InferenceConfig(entry_script="score.py", source_directory=str(src)),
                        LocalWebservice.deploy_configuration(auth_enabled=False))


def _src(root: Path, name: str, files: dict[str, str]) -> Path:
    src = root / name
    src.mkdir()
    for fname, text in files.items():
        (src / fname).write_text(textwrap.dedent(text))
    return src


def test_update_reloads_sibling_modules_and_bad_results(mws, model_file, tmp_path) -> None:
    score = '''
        import helper
        def init():
            pass
        def run(raw_data):
            if raw_data == '"object"':
                return object()
            return helper.VALUE
    '''
    model = Model.register(mws, model_file(), "sib")
    src1 = _src(tmp_path, "s1", {"score.py": score, "helper.py": "VALUE = 1\n"})
    src2 = _src(tmp_path, "s2", {"score.py": score, "helper.py": "VALUE = 2\n"})
    svc = _service(mws, "sib-svc", src1, model)
    try:
        svc.wait_for_deployment(timeout_sec=120)
        assert svc.run("{}") == 1
        svc.update(inference_config=InferenceConfig(entry_script="score.py",
                                                    source_directory=str(src2)))
        assert svc.run("{}") == 2                     # not the cached helper of revision 1
        resp = httpx.post(svc.scoring_uri, content=b'"object"')
        assert resp.status_code == 500 and "not JSON-serialisable" in resp.json()["error"]
    finally:
        svc.delete()


def test_entry_script_broken_at_run_time(mws, model_file, tmp_path) -> None:
    # passes the static check (a top-level name `run`) but is not callable
    src = _src(tmp_path, "s", {"score.py": "def init():\n    pass\nrun = None\n"})
    svc = _service(mws, "norun-svc", src, Model.register(mws, model_file(), "norun"))
    try:
        with pytest.raises(DeploymentError, match=r"defines no run\(\) function"):
            svc.wait_for_deployment(timeout_sec=120)
    finally:
        svc.delete()


def test_bad_spec_exits_with_a_message(tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"service": "x"}))
    proc = subprocess.run([sys.executable, "-m", "cumulus.models.server", "--spec", str(spec),
                           "--port", "0"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "the spec" in proc.stderr and "is invalid" in proc.stderr
