"""Environment definitions: validation, hashes, round trips and the registry (real store)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cumulus import Environment
from cumulus.environment import environment_definition
from cumulus.errors import CumulusError, EnvironmentNotFoundError, ValidationError


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"pip": "numpy"}, r"must be a list.*pip=\['numpy'\]"),
    ({"pip": ["--index-url=http://x"]}, "requirements_file instead"),
    ({"pip": [""]}, "not a requirement specifier"),
    ({"pip": [3]}, "not a requirement specifier"),
    ({"name": "bad name!"}, "name 'bad name!' is invalid"),
    ({"name": ""}, "is invalid"),
    ({"env_vars": {"1X": "a"}}, "env_vars entry '1X'"),
    ({"env_vars": {"X": 1}}, "values must be strings"),
    ({"requirements_file": "/nonexistent/req.txt"}, "cannot be read"),
    ({"image": "img", "dockerfile": "FROM a\nRUN true\n"}, "Set only one"),
    ({"dockerfile": "RUN true\nRUN false\n"}, "no FROM line"),
    ({"dockerfile": "no-such-Dockerfile"}, "neither Dockerfile text"),
    ({"image": ""}, "non-empty string"),
    ({"inherit_packages": "yes"}, "True or False"),
])
def test_bad_input_is_a_validation_error(kwargs: dict, match: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValidationError, match=match) as info:
        Environment(**kwargs)
    assert isinstance(info.value, CumulusError)


def test_none_means_empty() -> None:
    env = Environment("n", pip=None, env_vars=None)  # type: ignore[arg-type]
    assert env.pip == [] and env.env_vars == {} and env.is_default


def test_kinds() -> None:
    assert Environment().kind == "default" and Environment().is_default
    assert Environment(pip=["six"]).kind == "virtualenv"
    assert Environment(python="3.11").kind == "virtualenv"
    assert Environment(image="x:1").kind == "image"
    assert Environment(image="x:1", pip=["six"]).is_container
    assert Environment(dockerfile="FROM x:1\nRUN true\n").kind == "dockerfile"


def test_hashes_ignore_name_and_version_and_builds_ignore_env_vars() -> None:
    a = Environment("a", pip=["six==1.16.0"])
    b = Environment("b", pip=["six==1.16.0"], version=3)
    assert a.content_hash == b.content_hash and a.build_hash == b.build_hash
    c = Environment("a", pip=["six==1.16.0"], env_vars={"K": "v"})
    assert c.content_hash != a.content_hash and c.build_hash == a.build_hash
    d = Environment("a", pip=["six==1.17.0"])
    assert d.build_hash != a.build_hash
    e = Environment("a", pip=["six==1.16.0"], inherit_packages=False)
    assert e.build_hash != a.build_hash


def test_requirements_file_is_read_once_and_round_trips(tmp_path: Path) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("# comment\nsix==1.16.0\n\n--index-url https://pypi.org/simple\n")
    env = Environment("r", pip=["tqdm"], requirements_file=str(req))
    assert env.all_requirements == ["tqdm", "six==1.16.0", "--index-url https://pypi.org/simple"]
    before = env.build_hash
    req.write_text("changed==1\n")  # the definition was taken when the Environment was made
    assert env.build_hash == before
    again = Environment.from_dict(env.to_dict())
    assert again.to_dict() == env.to_dict()
    assert (again.content_hash, again.build_hash) == (env.content_hash, env.build_hash)


def test_dockerfile_path_is_read(tmp_path: Path) -> None:
    f = tmp_path / "Dockerfile"
    f.write_text("FROM cumulus-python:3.11\nRUN echo hi\n")
    env = Environment("d", dockerfile=str(f))
    assert env.dockerfile == f.read_text()
    assert Environment.from_dict(env.to_dict()).build_hash == env.build_hash


def test_definition_carries_hashes() -> None:
    env = Environment("x", pip=["six"])
    d = environment_definition(env)
    assert d is not None
    assert d["hash"] == env.content_hash and d["build_hash"] == env.build_hash
    assert d["kind"] == "virtualenv"
    assert environment_definition(None) is None
    with pytest.raises(ValidationError, match="must be a cumulus.Environment"):
        environment_definition({"pip": ["six"]})


def test_register_get_versions(fresh_workspace) -> None:  # type: ignore[no-untyped-def]
    ws = fresh_workspace
    v1 = Environment("tiny", pip=["six==1.16.0"]).register(ws)
    assert v1.version == 1
    assert Environment("tiny", pip=["six==1.16.0"]).register(ws).version == 1  # unchanged
    v2 = Environment("tiny", pip=["six==1.17.0"]).register(ws)
    assert v2.version == 2
    assert Environment.get(ws, "tiny").pip == ["six==1.17.0"]
    got = Environment.get(ws, "tiny", version=1)
    assert got.pip == ["six==1.16.0"] and got.version == 1
    assert got.build_hash == v1.build_hash
    Environment("other", image="img:1").register(ws)
    assert sorted(Environment.list(ws)) == ["other", "tiny"]
    assert Environment.list(ws)["tiny"].version == 2
    assert [e.version for e in Environment.versions(ws, "tiny")] == [1, 2]


def test_get_unknown_names_what_exists(fresh_workspace) -> None:  # type: ignore[no-untyped-def]
    ws = fresh_workspace
    Environment("sklearn", pip=["scikit-learn"]).register(ws)
    with pytest.raises(EnvironmentNotFoundError, match="Did you mean 'sklearn'"):
        Environment.get(ws, "sklaern")
    with pytest.raises(EnvironmentNotFoundError, match="Known: 'sklearn:1'"):
        Environment.get(ws, "sklearn", version=7)
    with pytest.raises(ValidationError, match="version must be an int"):
        Environment.get(ws, "sklearn", version=0)
