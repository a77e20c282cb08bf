"""Container-run fixtures over the shared private Docker engine of ``tests/dockerd.py``.

Worker processes find the engine through ``CUMULUS_DOCKER_HOST`` in their environment, which
they inherit when they start. The shared ``workspace`` target may already be running when
the engine starts, so the container runs go to a target of their own (``box``, one node with
1 GiB, so memory requests can be tested) created after ``CUMULUS_DOCKER_HOST`` is set.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the dockerd helper
from dockerd import docker_engine  # noqa: F401  (registers the session fixture)

BOX_TARGET = "box"


class DockerForTests:
    """What the container tests get: a client of the engine and a local Python image."""

    def __init__(self, client: Any, base_image: str) -> None:
        self.client = client
        self.base_image = base_image

    def containers_of(self, run_id: str) -> list[Any]:
        # ignore_removed: a container removed between the listing and its inspection (the
        # launcher replacing a stale one) is not an error of the test
        return self.client.containers.list(all=True, ignore_removed=True,
                                           filters={"label": f"cumulus.run_id={run_id}"})


@pytest.fixture(scope="session")
def docker_env(docker_engine: Any) -> Iterator[DockerForTests]:  # noqa: F811
    """The engine (skips with the reason where none can start), named in
    ``CUMULUS_DOCKER_HOST`` for every process started from now on."""
    previous = os.environ.get("CUMULUS_DOCKER_HOST")
    os.environ["CUMULUS_DOCKER_HOST"] = docker_engine.url
    yield DockerForTests(docker_engine.client, docker_engine.base_image)
    if previous is None:
        os.environ.pop("CUMULUS_DOCKER_HOST", None)
    else:
        os.environ["CUMULUS_DOCKER_HOST"] = previous


@pytest.fixture(scope="session")
def box_target(workspace: Any, docker_env: DockerForTests) -> Iterator[str]:
    """A compute target of the session workspace whose workers know the engine."""
    from cumulus.compute import ClusterConfig, ComputeTarget, NodeSpec

    target = ComputeTarget.create(workspace, BOX_TARGET, ClusterConfig(
        backend="local", min_nodes=1, max_nodes=1, idle_seconds_before_scaledown=60,
        node=NodeSpec(cpus=1, memory="1GiB")), exist_ok=True)
    target.wait_for_completion(min_node_count=1, timeout_in_minutes=3)
    yield BOX_TARGET
    target.delete(force=True)
