"""Docker images and services on a private dockerd (tests/dockerd.py); skipped, with the
reason, where no engine can start."""

from __future__ import annotations

import io
import json
import tarfile

import httpx
import pytest

from cumulus.errors import DeploymentError
from cumulus.models import DockerWebservice, InferenceConfig, Model, Webservice

pytestmark = pytest.mark.integration


def _ic(src) -> InferenceConfig:  # type: ignore[no-untyped-def]
    return InferenceConfig(entry_script="score.py", source_directory=str(src))


def test_package_builds_and_reuses_an_image(docker_engine, mws, score_src, model_file) -> None:
    model = Model.register(mws, model_file("pkg", w=3), "pkg")
    pkg = Model.package(mws, [model], _ic(score_src), docker_url=docker_engine.url,
                        base_image=docker_engine.base_image)
    assert not pkg.reused and pkg.image.startswith("cumulus/pkg:")
    image = docker_engine.client.images.get(pkg.image)
    assert image.labels["cumulus.models"] == "pkg:1"
    assert "COPY app/" in pkg.get_logs() or "Step" in pkg.get_logs()
    # the image serves on its own with `docker run` (no Cumulus on the host side)
    out = docker_engine.client.containers.run(
        pkg.image, entrypoint=["python3", "-c",
                               "import cumulus_scoring.handler as h, json;"
                               "s = h.Spec.load('spec.json'); h.load_handler(s);"
                               "print(json.dumps(h.load_handler(s).run('{\"data\": [2]}')))"],
        network_mode="none", remove=True)
    assert json.loads(out.decode().strip().splitlines()[-1])["y"] == [6]
    again = Model.package(mws, [model], _ic(score_src), docker_url=docker_engine.url,
                          base_image=docker_engine.base_image)
    assert again.reused and again.image == pkg.image


def test_docker_service_lifecycle(docker_engine, mws, score_src, model_file) -> None:
    v1 = Model.register(mws, model_file("d1", w=2), "dock")
    v2 = Model.register(mws, model_file("d2", w=5), "dock")
    dc = DockerWebservice.deploy_configuration(docker_url=docker_engine.url,
                                               base_image=docker_engine.base_image)
    svc = Model.deploy(mws, "dock-svc", [v1], _ic(score_src), dc)
    try:
        assert isinstance(svc, DockerWebservice)
        svc.wait_for_deployment(timeout_sec=120)
        assert svc.run({"data": [1]}) == {"version": "d1", "y": [2], "env": None}
        assert httpx.post(svc.scoring_uri, content=b"{}").status_code == 401
        assert "listening on http://127.0.0.1" in svc.get_logs()

        container = docker_engine.client.containers.get(svc._record["state"]["container_id"])
        old_primary, _ = svc.get_keys()
        svc.regen_key("primary")
        primary, _ = svc.get_keys()
        headers = {"Authorization": f"Bearer {old_primary}"}
        assert httpx.post(svc.scoring_uri, content=b"{}", headers=headers).status_code == 401
        assert svc.run({"data": [1]})["y"] == [2]
        inspect = json.dumps(docker_engine.client.api.inspect_container(container.id))
        assert primary not in inspect and old_primary not in inspect   # hashes only

        svc.update(models=[v2])                   # a new image and container on the same port
        assert svc.run({"data": [1]}) == {"version": "d2", "y": [5], "env": None}
        assert Webservice(mws, "dock-svc").models == [v2]
        assert [c.id for c in docker_engine.client.containers.list(all=True)
                if c.labels.get("cumulus.service") == "dock-svc"] == [
            svc._record["state"]["container_id"]]
    finally:
        svc.delete()
    assert not [c for c in docker_engine.client.containers.list(all=True)
                if c.labels.get("cumulus.service") == "dock-svc"]


def test_base_image_problems_are_explained(docker_engine, mws, score_src, model_file) -> None:
    model = Model.register(mws, model_file(), "nobase")
    with pytest.raises(DeploymentError, match="'no-such:1' is not on the Docker engine"):
        Model.deploy(mws, "nobase-svc", [model], _ic(score_src),
                     DockerWebservice.deploy_configuration(docker_url=docker_engine.url,
                                                           base_image="no-such:1"))
    assert Webservice.list(mws, model_name="nobase") == []
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("etc/hostname")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    docker_engine.client.api.import_image_from_data(buf.getvalue(), repository="no-python",
                                                    tag="1")
    with pytest.raises(DeploymentError, match="no-python:1"):
        Model.package(mws, [model], _ic(score_src), docker_url=docker_engine.url,
                      base_image="no-python:1")
