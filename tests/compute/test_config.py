"""ClusterConfig, NodeSpec, requests and the optional backends: bad input fails early."""

from __future__ import annotations

import importlib.util

import pytest

from cumulus.compute import ClusterConfig, NodeSpec, parse_memory
from cumulus.compute._base import REGISTRY, backend_class, require_extra
from cumulus.compute._extras import (
    azure_cluster_kwargs,
    kubernetes_cluster_kwargs,
    ssh_cluster_kwargs,
)
from cumulus.compute._resources import check_fits, request_for
from cumulus.errors import (
    CumulusError,
    MissingDependencyError,
    ResourceUnavailableError,
    ValidationError,
)


# memory ---------------------------------------------------------------------------------
@pytest.mark.parametrize("text,expected", [
    ("2GiB", 2 * 2**30), ("512MiB", 512 * 2**20), ("4GB", 4 * 10**9), ("1.5 gib", 3 * 2**29),
    ("100", 100), (2048, 2048), ("3Gi", 3 * 2**30), (None, None)])
def test_parse_memory(text: object, expected: int | None) -> None:
    assert parse_memory(text) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["lots", "2 GiBs", "-1GB", "0", 0, -5, True, "1e3GB", [1]])
def test_memory_that_does_not_parse_names_the_value_and_the_format(bad: object) -> None:
    with pytest.raises(ValidationError) as err:
        parse_memory(bad)  # type: ignore[arg-type]
    assert repr(bad) in str(err.value) or str(bad) in str(err.value)
    assert "2GiB" in str(err.value)


# NodeSpec -------------------------------------------------------------------------------
def test_nodespec_maps_onto_worker_resources() -> None:
    node = NodeSpec(cpus=4, memory="2GiB", gpus=1, resources={"ssd": 2})
    assert node.worker_resources() == {"cpus": 4.0, "gpus": 1.0, "ssd": 2.0,
                                       "memory": float(2 * 2**30)}
    assert NodeSpec().worker_resources() == {"cpus": 1.0, "gpus": 0.0}


@pytest.mark.parametrize("kwargs,fragment", [
    ({"cpus": 0}, "NodeSpec.cpus must be an integer >= 1"),
    ({"cpus": 1.5}, "NodeSpec.cpus"), ({"gpus": -1}, "NodeSpec.gpus"),
    ({"memory": "big"}, "NodeSpec.memory 'big' does not parse"),
    ({"resources": {"gpus": 1}}, "has its own field"),
    ({"resources": {"ssd": -1}}, "must be >= 0"), ({"resources": {"ssd": "x"}}, "finite")])
def test_bad_nodespec(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        NodeSpec(**kwargs)  # type: ignore[arg-type]


# ClusterConfig --------------------------------------------------------------------------
def test_min_nodes_above_max_nodes_is_refused_with_the_fix() -> None:
    with pytest.raises(ValidationError) as err:
        ClusterConfig(min_nodes=5, max_nodes=2)
    assert "min_nodes (5) is greater than max_nodes (2)" in str(err.value)
    assert "lower min_nodes or raise max_nodes" in str(err.value)


@pytest.mark.parametrize("kwargs,fragment", [
    ({"idle_seconds_before_scaledown": -1}, "idle_seconds_before_scaledown must be >= 0"),
    ({"idle_seconds_before_scaledown": float("nan")}, "finite number"),
    ({"idle_seconds_before_scaledown": "10"}, "finite number"),
    ({"max_nodes": 0}, "max_nodes must be an integer >= 1"),
    ({"min_nodes": -1}, "min_nodes must be an integer >= 0"),
    ({"min_nodes": True}, "min_nodes"), ({"max_attempts": 0}, "max_attempts"),
    ({"node": "big"}, "node must be a NodeSpec"),
    ({"address": "tcp://x:1"}, "only used by backend='address'")])
def test_bad_cluster_config(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        ClusterConfig(**kwargs)  # type: ignore[arg-type]


def test_unknown_backend_suggests_the_closest() -> None:
    with pytest.raises(ValidationError) as err:
        ClusterConfig(backend="kubernets")
    msg = str(err.value)
    assert "Unknown compute backend 'kubernets'" in msg and "Did you mean 'kubernetes'?" in msg
    assert "'local'" in msg and "'azure'" in msg
    with pytest.raises(ValidationError, match="Did you mean 'local'"):
        backend_class("locl")


def test_round_trip_replace_and_unknown_fields() -> None:
    cfg = ClusterConfig(min_nodes=1, max_nodes=3, node=NodeSpec(cpus=2, memory="1GiB"))
    assert ClusterConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.replace(max_nodes=8, min_nodes=None).max_nodes == 8
    assert cfg.replace(max_nodes=8).min_nodes == 1
    with pytest.raises(ValidationError, match="min_nodes"):
        cfg.replace(min_nodes=9)
    with pytest.raises(ValidationError, match="Did you mean 'max_nodes'"):
        ClusterConfig.from_dict({**cfg.to_dict(), "max_node": 3})
    with pytest.raises(ValidationError, match="Unknown NodeSpec field 'cpu'.*'cpus'"):
        ClusterConfig(node={"cpu": 2})  # type: ignore[arg-type]


def test_backend_options_are_checked() -> None:
    with pytest.raises(ValidationError, match="does not take option 'hostz'.*'hosts'"):
        ClusterConfig(backend="ssh", options={"hostz": ["a", "b"]})
    with pytest.raises(ValidationError, match="needs options \\['hosts'\\]"):
        ClusterConfig(backend="ssh")
    with pytest.raises(ValidationError, match="scheduler host then at least one worker"):
        ClusterConfig(backend="ssh", max_nodes=1, options={"hosts": ["only-one"]})
    with pytest.raises(ValidationError, match="more than the 1 worker host"):
        ClusterConfig(backend="ssh", max_nodes=2, options={"hosts": ["head", "w1"]})
    with pytest.raises(ValidationError, match="needs options"):
        ClusterConfig(backend="azure", options={"location": "westeurope"})
    with pytest.raises(ValidationError, match="address='tcp://host:8786'"):
        ClusterConfig(backend="address")
    with pytest.raises(ValidationError, match="address='tcp://host:8786'"):
        ClusterConfig(backend="address", address="localhost")


# requests -------------------------------------------------------------------------------
def test_request_defaults_to_one_cpu_and_parses_memory() -> None:
    assert request_for(None) == {"cpus": 1.0}
    assert request_for({"gpus": 1, "memory": "1GiB"}) == {
        "cpus": 1.0, "gpus": 1.0, "memory": float(2**30)}
    assert request_for({"cpus": 0}) == {}
    with pytest.raises(ValidationError, match="resources\\['gpus'\\] must be a number"):
        request_for({"gpus": -1})
    with pytest.raises(ValidationError, match="does not parse"):
        request_for({"memory": "lots"})


def test_a_request_no_node_can_hold_is_refused_with_the_reason() -> None:
    node = NodeSpec(cpus=2, memory="1GiB").worker_resources()
    with pytest.raises(ResourceUnavailableError) as err:
        check_fits("cpu", node, {"cpus": 1.0, "gpus": 1.0})
    assert "asks for gpus=1 but every node of compute target 'cpu' has gpus=0" in str(err.value)
    with pytest.raises(ResourceUnavailableError, match="memory=2.00GiB.*memory=1.00GiB"):
        check_fits("cpu", node, {"memory": float(2 * 2**30)})
    with pytest.raises(ResourceUnavailableError, match="resource 'ssd', which no node"):
        check_fits("cpu", node, {"ssd": 1.0})
    with pytest.raises(ResourceUnavailableError, match="needs 3 nodes.*at most 2"):
        check_fits("cpu", node, {"cpus": 1.0}, max_nodes=2, distribution={"node_count": 3})
    check_fits("cpu", node, {"cpus": 2.0})


# optional backends ----------------------------------------------------------------------
def test_ssh_mapping() -> None:
    cfg = ClusterConfig(backend="ssh", min_nodes=0, max_nodes=2,
                        node=NodeSpec(cpus=4, memory="8GiB", gpus=1),
                        options={"hosts": ["head", "w1", "w2", "w3"],
                                 "connect_options": {"known_hosts": None},
                                 "remote_python": "/opt/py/bin/python"})
    kw = ssh_cluster_kwargs(cfg)
    assert kw["hosts"] == ["head", "w1", "w2"]           # scheduler + max_nodes workers
    assert kw["worker_options"] == {"nthreads": 4, "memory_limit": 8 * 2**30,
                                    "resources": {"cpus": 4.0, "gpus": 1.0,
                                                  "memory": float(8 * 2**30)}}
    assert kw["connect_options"] == {"known_hosts": None}
    assert kw["remote_python"] == "/opt/py/bin/python"
    assert kw["scheduler_options"]["port"] == 0


def test_kubernetes_mapping_is_a_manifest_the_libraries_accept() -> None:
    """Built with dask-kubernetes' own make_cluster_spec; its pod specs deserialize into the
    Kubernetes client's V1PodSpec and back unchanged (no field the API would drop), and
    every KubeCluster argument exists."""
    pytest.importorskip("dask_kubernetes")
    import inspect

    from dask_kubernetes.operator import KubeCluster
    from kubernetes.client import ApiClient

    cfg = ClusterConfig(backend="kubernetes", min_nodes=1, max_nodes=5,
                        node=NodeSpec(cpus=2, memory="4GiB", gpus=1),
                        options={"image": "ghcr.io/me/cumulus:1", "namespace": "ml",
                                 "env": {"CUMULUS_X": "1"}})
    kw = kubernetes_cluster_kwargs(cfg)
    assert set(kw) <= set(inspect.signature(KubeCluster.__init__).parameters)
    manifest = kw["custom_cluster_spec"]
    assert manifest["kind"] == "DaskCluster" and manifest["metadata"]["namespace"] == "ml"
    assert manifest["spec"]["worker"]["replicas"] == 1
    api = ApiClient()
    pods = {}
    for part in ("worker", "scheduler"):
        raw = manifest["spec"][part]["spec"]
        pod = api._ApiClient__deserialize(raw, "V1PodSpec")  # the client's own model
        assert api.sanitize_for_serialization(pod) == raw, part
        pods[part] = pod.containers[0]
    worker, scheduler = pods["worker"], pods["scheduler"]
    assert worker.image == "ghcr.io/me/cumulus:1"
    assert worker.resources.limits == {"cpu": "2", "memory": str(4 * 2**30),
                                       "nvidia.com/gpu": "1"}
    assert worker.args[:3] == ["dask-worker", "--nthreads", "2"]
    assert "gpus=1" in worker.args[4] and "cpus=2" in worker.args[4]
    assert {e.name: e.value for e in worker.env} == {"CUMULUS_X": "1"}
    assert "nvidia.com/gpu" not in (scheduler.resources.limits or {})   # not the node shape
    with pytest.raises(ValidationError, match="needs options \\['image'\\]"):
        ClusterConfig(backend="kubernetes", max_nodes=1)


def test_azure_mapping() -> None:
    cfg = ClusterConfig(backend="azure", min_nodes=0, max_nodes=10,
                        node=NodeSpec(cpus=4, memory="16GiB"),
                        options={"location": "westeurope", "resource_group": "rg",
                                 "vnet": "vn", "security_group": "nsg",
                                 "vm_size": "Standard_D4s_v3", "docker_image": "img:1"})
    kw = azure_cluster_kwargs(cfg)
    assert {k: kw[k] for k in ("location", "resource_group", "vnet", "security_group",
                               "vm_size", "docker_image", "n_workers")} == {
        "location": "westeurope", "resource_group": "rg", "vnet": "vn",
        "security_group": "nsg", "vm_size": "Standard_D4s_v3", "docker_image": "img:1",
        "n_workers": 0}
    assert kw["worker_options"]["nthreads"] == 4
    assert kw["worker_options"]["memory_limit"] == 16 * 2**30


def test_azure_arguments_exist_in_dask_cloudprovider() -> None:
    """Every argument the azure backend passes is one AzureVMCluster (or the VMCluster it
    hands the rest to) takes: a typo would only fail on a real subscription."""
    pytest.importorskip("dask_cloudprovider.azure")
    import inspect

    from dask_cloudprovider.azure import AzureVMCluster
    from dask_cloudprovider.generic.vmcluster import VMCluster

    options = {"location": "westeurope", "resource_group": "rg", "vnet": "vn",
               "security_group": "nsg", "vm_size": "Standard_NC6s_v3", "docker_image": "i:1",
               "env_vars": {"A": "1"}, "extra_vm_options": {"priority": "Spot"},
               "subnet": "default", "disk_size": 100, "auto_shutdown": True}
    kw = azure_cluster_kwargs(ClusterConfig(backend="azure", max_nodes=2, options=options))
    accepted = set(inspect.signature(AzureVMCluster.__init__).parameters) | \
        set(inspect.signature(VMCluster.__init__).parameters)
    assert set(kw) <= accepted, set(kw) - accepted


@pytest.mark.parametrize("backend", ["ssh", "kubernetes", "azure"])
def test_a_missing_extra_gets_an_install_hint(backend: str) -> None:
    module, package, extra = REGISTRY[backend][1]  # type: ignore[misc]
    require_extra(backend)            # the test suite installs every extra
    real = importlib.util.find_spec
    with pytest.MonkeyPatch.context() as mp, pytest.raises(MissingDependencyError) as err:
        mp.setattr(importlib.util, "find_spec",
                   lambda name, *a: None if name == module else real(name, *a))
        require_extra(backend)
    assert f"pip install 'cumulus-ml[{extra}]'" in str(err.value)
    assert package in str(err.value) and isinstance(err.value, CumulusError)


def test_creating_a_target_whose_extra_is_missing_stores_nothing(fresh_workspace,  # type: ignore[no-untyped-def]
                                                                 monkeypatch) -> None:
    from cumulus.compute import ComputeTarget

    cfg = ClusterConfig(backend="kubernetes", max_nodes=1, options={"image": "img:1"})
    real = importlib.util.find_spec
    # as on a machine without the extra (the test suite installs it)
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "dask_kubernetes" else real(name, *a))
    with pytest.raises(MissingDependencyError, match="cumulus-ml\\[kubernetes\\]"):
        ComputeTarget.create(fresh_workspace, "remote", cfg)
    assert fresh_workspace.store.computes.get("remote") is None
