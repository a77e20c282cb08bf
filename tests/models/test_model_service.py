"""Local scoring services: real uvicorn processes answering real HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import httpx
import psutil
import pytest

from cumulus import Environment
from cumulus.errors import DeploymentError, ServiceNotFoundError, ValidationError
from cumulus.models import (
    InferenceConfig,
    LocalWebservice,
    Model,
    ModelInUseError,
    ServiceRequestError,
    Webservice,
)
from cumulus.models.server.handler import hash_key


def _deploy(ws, name, models, src, **config):  # type: ignore[no-untyped-def]
    env = config.pop("environment", None)
    svc = Model.deploy(ws, name, models,
                       InferenceConfig(entry_script="score.py", source_directory=str(src),
                                       environment=env),
                       LocalWebservice.deploy_configuration(**config))
    svc.wait_for_deployment(timeout_sec=120)
    return svc


@pytest.fixture(scope="module")
def svc(mws, score_src, model_file):  # type: ignore[no-untyped-def]
    model = Model.register(mws, model_file("v1", w=2), "echo")
    service = _deploy(mws, "echo-svc", [model], score_src, max_request_bytes=2048,
                      scoring_timeout_seconds=1.0)
    yield service
    service.delete()


def _post(svc, body, key=None, **kw):  # type: ignore[no-untyped-def]
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return httpx.post(svc.scoring_uri, content=body, headers=headers, timeout=30, **kw)


def test_scores_and_describes_itself(svc) -> None:  # type: ignore[no-untyped-def]
    assert svc.state == "Healthy"
    assert svc.scoring_uri == f"http://127.0.0.1:{svc.port}/score"
    assert svc.run({"data": [1, 2]}) == {"version": "v1", "y": [2, 4], "env": None}
    assert svc.run('{"data": [5]}')["y"] == [10]                  # raw JSON text as well
    health = httpx.get(f"http://127.0.0.1:{svc.port}/health").json()
    assert health["status"] == "Healthy" and health["revision"] == 1
    doc = httpx.get(svc.swagger_uri).json()
    op = doc["paths"]["/score"]["post"]
    assert op["security"] == [{"Bearer": []}]
    assert op["requestBody"]["content"]["application/json"]["example"] == {"data": [1, 2]}
    assert {"401", "413", "500", "504"} <= set(op["responses"])
    assert doc["components"]["securitySchemes"]["Bearer"]["scheme"] == "bearer"
    assert "/health" in doc["paths"]


def test_key_auth(svc) -> None:  # type: ignore[no-untyped-def]
    primary, secondary = svc.get_keys()
    assert primary != secondary and len(primary) >= 40
    body = b'{"data": [1]}'
    assert _post(svc, body).status_code == 401
    wrong = _post(svc, body, key=primary[:-2] + "xx")
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert _post(svc, body, key=primary).status_code == 200
    assert _post(svc, body, key=secondary).status_code == 200


def test_request_errors(svc) -> None:  # type: ignore[no-untyped-def]
    key = svc.get_keys()[0]
    bad = _post(svc, b'{"data": [1,', key=key)
    assert bad.status_code == 400 and "not valid JSON" in bad.json()["error"]
    assert _post(svc, b"\xff\xfe", key=key).status_code == 400
    big = json.dumps({"data": [1] * 2000}).encode()
    too_big = _post(svc, big, key=key)
    assert too_big.status_code == 413 and "2048 bytes" in too_big.json()["error"]
    chunked = _post(svc, (big[i:i + 100] for i in range(0, len(big), 100)), key=key)
    assert chunked.status_code == 413                              # no Content-Length
    assert httpx.get(svc.scoring_uri).status_code == 405


def test_run_errors_are_500_without_details(svc) -> None:  # type: ignore[no-untyped-def]
    key = svc.get_keys()[0]
    resp = _post(svc, b'{"fail": "token-123"}', key=key)
    assert resp.status_code == 500
    assert "ValueError" in resp.json()["error"]
    assert "SECRET-DETAIL" not in resp.text and "Traceback" not in resp.text
    rid = resp.json()["request_id"]
    log = svc.get_logs()
    assert f"request {rid}: run() raised ValueError: SECRET-DETAIL token-123" in log
    assert "Traceback" in log
    with pytest.raises(ServiceRequestError) as info:
        svc.run({"fail": 1})
    assert info.value.status_code == 500


def test_scoring_timeout(svc) -> None:  # type: ignore[no-untyped-def]
    resp = _post(svc, b'{"sleep": 3}', key=svc.get_keys()[0])
    assert resp.status_code == 504 and "1 s limit" in resp.json()["error"]
    assert svc.run({"data": [1]})["y"] == [2]                     # still serving


def test_regen_key(svc) -> None:  # type: ignore[no-untyped-def]
    old_primary, secondary = svc.get_keys()
    svc.regen_key("Primary")
    primary, secondary_after = svc.get_keys()
    assert primary != old_primary and secondary_after == secondary
    body = b'{"data": [1]}'
    assert _post(svc, body, key=old_primary).status_code == 401
    assert _post(svc, body, key=primary).status_code == 200
    assert _post(svc, body, key=secondary).status_code == 200
    with pytest.raises(ValidationError, match="'Primary' or 'Secondary'"):
        svc.regen_key("tertiary")


def test_keys_never_reach_store_logs_or_argv(svc, mws) -> None:  # type: ignore[no-untyped-def]
    keys = svc.get_keys()
    assert Webservice(mws, svc.name)._record["state"]["key_hashes"] == [hash_key(k)
                                                                       for k in keys]
    svc.run({"data": [1]})
    pid = svc._record["state"]["pid"]
    places = {"cmdline": Path(f"/proc/{pid}/cmdline").read_bytes(),
              "environ": Path(f"/proc/{pid}/environ").read_bytes(),
              "log": svc.get_logs().encode(),
              "spec": (mws.state_dir / "services" / svc.name / "spec.json").read_bytes()}
    for path in mws.state_dir.glob("store.db*"):                  # the SQLite store + WAL
        places[path.name] = path.read_bytes()
    for key in keys:
        for where, data in places.items():
            assert key.encode() not in data, f"a key leaked into the {where}"
    secrets = mws.state_dir / "secrets" / "services" / f"{svc.name}.json"
    assert secrets.stat().st_mode & 0o777 == 0o600
    assert secrets.parent.stat().st_mode & 0o777 == 0o700
    assert sorted(json.loads(secrets.read_text()).values()) == sorted(keys)


def test_reopen_from_another_process(svc, mws) -> None:  # type: ignore[no-untyped-def]
    code = textwrap.dedent(f'''
        from cumulus import Workspace, Webservice
        svc = Webservice(Workspace.from_config({str(mws.root)!r}), {svc.name!r})
        print(type(svc).__name__, svc.state, svc.run({{"data": [4]}})["y"])
    ''')
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.split() == ["LocalWebservice", "Healthy", "[8]"], out.stderr


def test_wait_for_deployment_shows_the_log(svc, capsys) -> None:  # type: ignore[no-untyped-def]
    assert svc.wait_for_deployment(show_output=True) == "Healthy"
    out = capsys.readouterr().out
    assert "listening on http://127.0.0.1" in out and "is Healthy" in out


def test_existing_name_and_port_of_a_service(svc, mws, score_src) -> None:  # type: ignore
    model = svc.models[0]
    ic = InferenceConfig(entry_script="score.py", source_directory=str(score_src))
    with pytest.raises(DeploymentError, match="exists already.*overwrite=True"):
        Model.deploy(mws, svc.name, [model], ic)
    with pytest.raises(DeploymentError, match=rf"in use by service '{svc.name}'"):
        Model.deploy(mws, "other-svc", [model], ic,
                     LocalWebservice.deploy_configuration(port=svc.port))
    assert [s.name for s in Webservice.list(mws)] == [svc.name]
    with pytest.raises(ModelInUseError, match=f"used by service.*'{svc.name}'"):
        model.delete()
    assert Model(mws, model.name, model.version) == model


class Hammer:
    """Threads sending requests until stopped; records every answer and every failure."""

    def __init__(self, url: str, key: str, threads: int = 4) -> None:
        self.url, self.key = url, key
        self.stop = threading.Event()
        self.versions: list[str] = []
        self.failures: list[str] = []
        self.threads = [threading.Thread(target=self._loop, args=(i % 2 == 0,))
                        for i in range(threads)]

    def _loop(self, keep_alive: bool) -> None:
        client = httpx.Client(timeout=30) if keep_alive else None
        while not self.stop.is_set():
            try:
                send = client.post if client else httpx.post
                resp = send(self.url, content=b'{"data": [1]}',
                            headers={"Authorization": f"Bearer {self.key}"})
                if resp.status_code == 200:
                    self.versions.append(resp.json()["version"])
                else:
                    self.failures.append(f"{resp.status_code} {resp.text}")
            except Exception as exc:
                self.failures.append(repr(exc))
        if client:
            client.close()

    def __enter__(self) -> Hammer:
        for t in self.threads:
            t.start()
        return self

    def wait_for(self, version: str, count: int = 20) -> None:
        while self.versions.count(version) < count and not self.failures:
            self.stop.wait(0.05)

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)


def test_update_swaps_models_without_a_failed_request(mws, score_src, model_file) -> None:
    v1 = Model.register(mws, model_file("v1", w=1, init_sleep=0.2), "swap")
    v2 = Model.register(mws, model_file("v2", w=2, init_sleep=1.0), "swap")
    svc = _deploy(mws, "swap-svc", [v1], score_src)
    try:
        with Hammer(svc.scoring_uri, svc.get_keys()[0]) as hammer:
            hammer.wait_for("v1")
            svc.update(models=[v2])
            hammer.wait_for("v2")
        assert hammer.failures == []
        first_v2 = hammer.versions.index("v2")
        assert set(hammer.versions[:first_v2]) == {"v1"}
        assert [m.id for m in svc.models] == ["swap:2"] and svc.revision == 2
        assert Webservice(mws, "swap-svc").models == [v2]

        # a version whose init() fails is refused; the running one keeps serving
        v3 = Model.register(mws, model_file("v3", init_fail=True), "swap")
        with pytest.raises(DeploymentError, match="kept its previous version.*init failed on"):
            svc.update(models=[v3])
        assert svc.run({"data": [1]})["version"] == "v2" and svc.state == "Healthy"
        assert Webservice(mws, "swap-svc").models == [v2]
        svc.regen_key("Secondary")                      # later changes build on revision 2
        assert svc.run({"data": [1]})["version"] == "v2"

        # new code/environment in place: env vars reach the new handler
        env = Environment(env_vars={"SCORE_FLAVOUR": "spicy"})
        svc.update(inference_config=InferenceConfig(
            entry_script="score.py", source_directory=str(score_src), environment=env))
        assert svc.run({"data": [1]}) == {"version": "v2", "y": [2], "env": "spicy"}
    finally:
        svc.delete()


def test_several_models_and_no_auth(mws, model_file, tmp_path: Path) -> None:
    a = Model.register(mws, model_file("a", w=1), "multi-a")
    folder = tmp_path / "b"
    folder.mkdir()
    (folder / "w.txt").write_text("7")
    b = Model.register(mws, folder, "multi-b")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "score.py").write_text(textwrap.dedent('''
        import json, os
        def init():
            global a, b
            root = os.environ["CUMULUS_MODEL_DIR"]
            a = json.load(open(os.path.join(root, "multi-a", "model.json")))
            b = int(open(os.path.join(root, "multi-b", "b", "w.txt")).read())
        def run(raw_data):
            return [a["version"], b]
    '''))
    svc = _deploy(mws, "multi-svc", [a, b], tmp_path / "src", auth_enabled=False,
                  scoring_timeout_seconds=None)             # inline run(): no timeout
    try:
        assert httpx.post(svc.scoring_uri, content=b"{}").json() == ["a", 7]
        op = httpx.get(svc.swagger_uri).json()["paths"]["/score"]["post"]
        assert "security" not in op and "504" not in op["responses"]
    finally:
        svc.delete()


def test_failed_init_is_reported(mws, score_src, model_file) -> None:
    bad = Model.register(mws, model_file("bad", init_fail=True), "bad")
    svc = Model.deploy(mws, "bad-svc", [bad],
                       InferenceConfig(entry_script="score.py", source_directory=str(score_src)))
    try:
        with pytest.raises(DeploymentError, match="failed to deploy.*init failed on purpose"):
            svc.wait_for_deployment(timeout_sec=120)
        assert svc.state == "Failed"
        assert Webservice(mws, "bad-svc")._record["status"] == "Failed"
    finally:
        svc.delete()


def test_delete_stops_everything(mws, score_src, model_file) -> None:
    model = Model.register(mws, model_file("d"), "gone")
    svc = _deploy(mws, "gone-svc", [model], score_src)
    pid, port = svc._record["state"]["pid"], svc.port
    svc.delete()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    with socket.socket() as s:                                     # nothing listens there
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)    # (TIME_WAIT is fine)
        s.bind(("127.0.0.1", port))
    assert not (mws.state_dir / "services" / "gone-svc").exists()
    assert not (mws.state_dir / "secrets" / "services" / "gone-svc.json").exists()
    with pytest.raises(ServiceNotFoundError, match="'gone-svc' does not exist"):
        Webservice(mws, "gone-svc")
    model.delete()                                                 # no longer in use


def test_overwrite_replaces_the_service(mws, score_src, model_file) -> None:
    model = Model.register(mws, model_file("o1"), "over")
    svc = _deploy(mws, "over-svc", [model], score_src)
    pid = svc._record["state"]["pid"]
    try:
        svc2 = Model.deploy(mws, "over-svc", [model],
                            InferenceConfig(entry_script="score.py",
                                            source_directory=str(score_src)),
                            overwrite=True)
        svc2.regen_key("Primary")              # right away: waits for the first load first
        assert svc2._record["state"]["pid"] != pid and svc2.run({"data": []})["version"] == "o1"
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
    finally:
        Webservice(mws, "over-svc").delete()


def test_deploy_from_run_registers_then_updates(workspace, score_src, tmp_path: Path) -> None:
    from cumulus import Experiment, ScriptRunConfig
    from cumulus.models import deploy_from_run

    (tmp_path / "train.py").write_text(
        "import json, os, sys\nos.makedirs('outputs', exist_ok=True)\n"
        "json.dump({'version': sys.argv[1], 'w': 1}, open('outputs/model.json', 'w'))\n")
    (tmp_path / "score.py").write_text((score_src / "score.py").read_text())
    ic = InferenceConfig(entry_script="score.py", source_directory=str(tmp_path))
    exp = Experiment(workspace, "deploy-step")
    runs = []
    try:
        for version in ("r1", "r2"):
            run = exp.submit(ScriptRunConfig(source_directory=str(tmp_path), script="train.py",
                                             arguments=[version]))
            run.wait_for_completion(raise_on_error=True, timeout=120)
            runs.append(run)
            svc = deploy_from_run(run, "outputs/model.json", "step-svc", ic)
            assert svc.run({"data": [1]})["version"] == version
        assert [m.id for m in svc.models] == ["step-svc:2"] and svc.revision == 2
        assert Model(workspace, "step-svc", 2).run_id == runs[1].id
    finally:
        for s in Webservice.list(workspace):
            s.delete()
    assert os.environ.get("CUMULUS_MODEL_DIR") is None             # nothing leaked in-process


def test_environments(mws, score_src, model_file) -> None:
    model = Model.register(mws, model_file("env"), "envm")
    boxed = Environment("boxed", image="python:3.11-slim")
    with pytest.raises(ValidationError, match="runs in image 'python:3.11-slim'.*"
                                              "DockerWebservice"):
        Model.deploy(mws, "boxed-svc", [model],
                     InferenceConfig(entry_script="score.py", source_directory=str(score_src),
                                     environment=boxed))
    assert Webservice.list(mws, model_name="envm") == []

    # a new interpreter (a virtualenv) needs a new process: restarted on the same port
    svc = _deploy(mws, "venv-svc", [model], score_src)
    try:
        port, pid = svc.port, svc._record["state"]["pid"]
        venv = Environment("six-env", pip=["six"], env_vars={"SCORE_FLAVOUR": "venv"})
        svc.update(inference_config=InferenceConfig(
            entry_script="score.py", source_directory=str(score_src), environment=venv))
        state = Webservice(mws, "venv-svc")._record["state"]
        assert state["port"] == port and state["pid"] != pid
        assert state["python"] != sys.executable and "envs" in state["python"]
        assert svc.run({"data": [1]}) == {"version": "env", "y": [2], "env": "venv"}
    finally:
        svc.delete()
