"""Bad deployment input is refused before anything is deployed, with an actionable message."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from cumulus.errors import DeploymentError, ValidationError
from cumulus.models import InferenceConfig, LocalWebservice, Model, Webservice
from cumulus.models._config import check_entry_script
from cumulus.models.server.handler import Auth, hash_key


def _script(tmp_path: Path, text: str, name: str = "score.py") -> Path:
    (tmp_path / name).write_text(text)
    return tmp_path


@pytest.mark.parametrize(("text", "message"), [
    ("def run(raw_data):\n    return 1\n", r"defines no top-level init\(\)"),
    ("def init():\n    pass\n", r"defines no top-level run\(\)"),
    ("x = 1\n", r"defines no top-level init or run\(\)"),
    ("def init(:\n", "does not parse"),
])
def test_entry_script_must_define_init_and_run(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        InferenceConfig(entry_script="score.py", source_directory=str(_script(tmp_path, text)))


def test_entry_script_forms_that_are_accepted(tmp_path: Path) -> None:
    check_entry_script(_script(tmp_path, "from m import init\nrun = lambda raw: raw\n")
                       .joinpath("score.py"))
    check_entry_script(_script(tmp_path, "async def init(): ...\ndef run(raw): ...\n", "b.py")
                       .joinpath("b.py"))


def test_inference_config_paths(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="source_directory .* does not exist"):
        InferenceConfig(entry_script="score.py", source_directory=str(tmp_path / "nope"))
    with pytest.raises(ValidationError, match="is not a file under source_directory"):
        InferenceConfig(entry_script="score.py", source_directory=str(tmp_path))
    with pytest.raises(ValidationError, match="must name a .py file"):
        InferenceConfig(entry_script="score.txt", source_directory=str(tmp_path))
    (tmp_path / "inner").mkdir()
    _script(tmp_path, "def init(): ...\ndef run(r): ...\n")
    with pytest.raises(ValidationError, match="outside source_directory"):
        InferenceConfig(entry_script="../score.py", source_directory=str(tmp_path / "inner"))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"port": 0}, "port must be an integer 1-65535"),
    ({"port": 70000}, "port must be an integer 1-65535"),
    ({"port": "8080"}, "port must be an integer 1-65535"),
    ({"auth_enabled": "yes"}, "auth_enabled must be True or False"),
    ({"max_request_bytes": 0}, "max_request_bytes must be a positive integer"),
    ({"scoring_timeout_seconds": -1}, "scoring_timeout_seconds must be a positive number"),
])
def test_deploy_configuration_is_validated(kwargs: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        LocalWebservice.deploy_configuration(**kwargs)


def test_keys_compare_against_hashes_only() -> None:
    auth = Auth.from_dict({"enabled": True, "key_hashes": [hash_key("k1"), hash_key("k2")]})
    assert auth.check(b"Bearer k1") and auth.check(b"bearer k2") and auth.check(b"k1")
    assert not auth.check(b"Bearer k3") and not auth.check(None) and not auth.check(b"")
    assert not auth.check(b"Bearer " + hash_key("k1").encode())   # a hash is not a key
    assert Auth.from_dict({"enabled": False}).check(None)
    with pytest.raises(ValueError, match="no key hashes"):
        Auth.from_dict({"enabled": True, "key_hashes": []})


def _nothing_deployed(ws, name: str) -> None:  # type: ignore[no-untyped-def]
    assert Webservice.list(ws) == []
    assert not (ws.state_dir / "services" / name).exists()
    assert not (ws.state_dir / "secrets" / "services" / f"{name}.json").exists()


def test_deploy_refuses_bad_input_before_starting(mws, score_src, model_file) -> None:
    model = Model.register(mws, model_file(), "cfg")
    ic = InferenceConfig(entry_script="score.py", source_directory=str(score_src))
    dc = LocalWebservice.deploy_configuration()
    cases = [
        (("Bad_Name", [model], ic, dc), ValidationError, "Service name 'Bad_Name' is invalid"),
        (("cfg-svc", [], ic, dc), ValidationError, "non-empty list of Model"),
        (("cfg-svc", ["cfg:1"], ic, dc), ValidationError, "must hold Model objects"),
        (("cfg-svc", [model, Model(mws, "cfg", 1)], ic, dc), ValidationError,
         "several versions of cfg"),
        (("cfg-svc", [model], "score.py", dc), ValidationError,
         "inference_config must be an InferenceConfig"),
        (("cfg-svc", [model], ic, {"port": 1}), ValidationError,
         "deployment_config must come from"),
    ]
    for args, error, message in cases:
        with pytest.raises(error, match=message):
            Model.deploy(mws, *args)
        _nothing_deployed(mws, "cfg-svc")


def test_deploy_refuses_a_port_in_use(mws, score_src, model_file) -> None:
    model = Model.register(mws, model_file(), "cfg-port")
    ic = InferenceConfig(entry_script="score.py", source_directory=str(score_src))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(DeploymentError, match=rf"Port {port} on 127.0.0.1 is in use by "
                                                  "another process.*port=None"):
            Model.deploy(mws, "port-svc", [model], ic,
                         LocalWebservice.deploy_configuration(port=port))
    _nothing_deployed(mws, "port-svc")
