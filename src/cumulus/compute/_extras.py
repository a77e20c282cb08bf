"""Backend-specific settings: which ``options`` each backend takes, and how a ClusterConfig
maps onto the parameters of the Dask project that does the work.

``ssh`` -> ``distributed.deploy.ssh.SSHCluster`` (needs ``asyncssh``), ``kubernetes`` ->
``dask_kubernetes.operator.KubeCluster``, ``azure`` ->
``dask_cloudprovider.azure.AzureVMCluster``. The mappings are pure and tested; building the
cluster needs the extra and raises :class:`~cumulus.errors.MissingDependencyError` with the
install command when it is missing.

Example::

    cfg = ClusterConfig(backend="ssh", max_nodes=2, node=NodeSpec(cpus=4),
                        options={"hosts": ["head", "w1", "w2"]})
    ssh_cluster_kwargs(cfg)["worker_options"]    # {'nthreads': 4, 'resources': {...}, ...}
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from cumulus.errors import ValidationError, allowed_list, did_you_mean

if TYPE_CHECKING:
    from cumulus.compute._config import ClusterConfig

# backend -> (required options, optional options)
OPTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "local": ((), ("dashboard_address",)),
    "address": ((), ("timeout", "tls")),
    "ssh": (("hosts",), ("connect_options", "remote_python", "scheduler_options",
                         "worker_options", "worker_class", "tls")),
    "kubernetes": (("image",), ("namespace", "cluster_name", "env", "worker_command",
                                "scheduler_service_type", "resource_timeout",
                                "scheduler_resources")),
    "azure": (("location", "resource_group", "vnet", "security_group"),
              ("vm_size", "scheduler_vm_size", "docker_image", "public_ingress",
               "disk_size", "env_vars", "subscription_id", "bootstrap", "extra_vm_options",
               "subnet", "vm_image", "auto_shutdown")),
}
ADDRESS_RE = re.compile(r"^(tcp|tls|ucx|ws|wss|inproc)://[^\s/]+$")


def validate_backend_config(cfg: ClusterConfig) -> None:
    """Raise ValidationError for options a backend does not take or lacks."""
    required, optional = OPTIONS[cfg.backend]
    allowed = required + optional
    for key in cfg.options:
        if key not in allowed:
            raise ValidationError(
                f"Compute backend {cfg.backend!r} does not take option {key!r}. Allowed: "
                f"{allowed_list(allowed)}." + did_you_mean(key, allowed))
    missing = [k for k in required if k not in cfg.options]
    if missing:
        raise ValidationError(
            f"Compute backend {cfg.backend!r} needs options {missing}; for example "
            f"{_example(cfg.backend)}.")
    if cfg.backend == "address":
        if not isinstance(cfg.address, str) or not ADDRESS_RE.match(cfg.address):
            raise ValidationError(
                f"backend='address' needs address='tcp://host:8786' (a Dask scheduler "
                f"address), got {cfg.address!r}.")
        tls = cfg.options.get("tls")
        if tls is not None and (not isinstance(tls, dict) or set(tls) != {"ca", "cert", "key"}):
            raise ValidationError(
                "options['tls'] of an address target names the files of a TLS scheduler: "
                "{'ca': '/path/ca.pem', 'cert': '/path/cert.pem', 'key': '/path/key.pem'}, "
                f"got {tls!r}.")
        if cfg.address.startswith("tls://") and tls is None:
            raise ValidationError(
                f"{cfg.address} is a TLS scheduler: give options={{'tls': {{'ca': ..., "
                "'cert': ..., 'key': ...}}}} (the client certificate files).")
    elif cfg.address is not None:
        raise ValidationError(f"address= is only used by backend='address', not "
                              f"{cfg.backend!r}; drop it or use backend='address'.")
    if cfg.backend == "ssh":
        hosts = cfg.options["hosts"]
        if not isinstance(hosts, list) or len(hosts) < 2 or \
                not all(isinstance(h, str) and h for h in hosts):
            raise ValidationError(
                "options['hosts'] must list the scheduler host then at least one worker "
                f"host, e.g. ['head', 'worker1'], got {hosts!r}.")
        if cfg.max_nodes > len(hosts) - 1:
            raise ValidationError(
                f"max_nodes ({cfg.max_nodes}) is more than the {len(hosts) - 1} worker "
                "host(s) in options['hosts']; add hosts or lower max_nodes.")


def _example(backend: str) -> str:
    return {
        "ssh": "options={'hosts': ['scheduler-host', 'worker-1', 'worker-2']}",
        "azure": "options={'location': 'westeurope', 'resource_group': 'rg', "
                 "'vnet': 'vnet', 'security_group': 'nsg'}",
        "kubernetes": "options={'image': 'registry.example.com/cumulus-worker:1.0'} (an "
                      "image with this version of cumulus-ml installed; see "
                      "docs/operations.md)",
    }.get(backend, "options={}")


def _worker_options(cfg: ClusterConfig) -> dict[str, Any]:
    opts: dict[str, Any] = {"nthreads": cfg.node.cpus,
                            "resources": cfg.node.worker_resources()}
    if cfg.node.memory_bytes:
        opts["memory_limit"] = cfg.node.memory_bytes
    return opts


def _resources_arg(cfg: ClusterConfig) -> str:
    return ",".join(f"{k}={v:g}" for k, v in cfg.node.worker_resources().items())


# ssh -------------------------------------------------------------------------------------
def ssh_cluster_kwargs(cfg: ClusterConfig) -> dict[str, Any]:
    """Keyword arguments of ``SSHCluster``: the first host runs the scheduler, one node per
    further host (``max_nodes`` of them)."""
    o = cfg.options
    worker_options = {**_worker_options(cfg), **(o.get("worker_options") or {})}
    kwargs: dict[str, Any] = {
        "hosts": list(o["hosts"][:cfg.max_nodes + 1]),
        "connect_options": o.get("connect_options") or {},
        "worker_options": worker_options,
        "scheduler_options": {"port": 0, "dashboard_address": None,
                              **(o.get("scheduler_options") or {})},
        "worker_class": o.get("worker_class", "distributed.Nanny"),
    }
    if o.get("remote_python"):
        kwargs["remote_python"] = o["remote_python"]
    return kwargs


PREFLIGHT_TIMEOUT = 10.0   # seconds to reach each ssh host before the target is refused
VERSION_PROBE = "import sys, cumulus; print(cumulus.__version__, sys.version.split()[0])"


def check_ssh_hosts(cfg: ClusterConfig) -> None:
    """Before an ssh target is recorded: every host answers over SSH with the options given,
    and its Python imports the same version of Cumulus as this client. Names the host and
    the problem (unreachable, host key, no Python, no or another Cumulus)."""
    import asyncio

    from cumulus import __version__
    from cumulus.errors import ComputeError

    kw = ssh_cluster_kwargs(cfg)
    python = kw.get("remote_python") or "python3"
    problems = asyncio.run(_probe_hosts(list(dict.fromkeys(kw["hosts"])),
                                        kw["connect_options"], python, __version__))
    if problems:
        raise ComputeError("The ssh target cannot use its hosts:\n  " + "\n  ".join(problems)
                           + "\nNothing was recorded; fix the hosts or options['hosts'] / "
                             "options['connect_options'] / options['remote_python'].")


async def _probe_hosts(hosts: list[str], options: dict[str, Any], python: str,
                       version: str) -> list[str]:
    import asyncio

    results = await asyncio.gather(*(_probe(h, options, python, version) for h in hosts))
    return [r for r in results if r]


async def _probe(host: str, options: dict[str, Any], python: str, version: str) -> str | None:
    import asyncio
    import shlex

    import asyncssh

    try:
        async with asyncssh.connect(host, **{"connect_timeout": PREFLIGHT_TIMEOUT,
                                             **options}) as conn:
            result = await conn.run(f"{shlex.quote(python)} -c {shlex.quote(VERSION_PROBE)}",
                                    timeout=60)
    except asyncssh.HostKeyNotVerifiable as exc:
        return (f"{host}: its host key is not the one expected ({exc}); update known_hosts "
                f"or connect_options['known_hosts']")
    except asyncssh.PermissionDenied as exc:
        return f"{host}: SSH login refused ({exc}); check username and client_keys"
    except (OSError, asyncio.TimeoutError, asyncssh.Error) as exc:
        return f"{host}: unreachable over SSH ({type(exc).__name__}: {exc or 'timed out'})"
    stderr = str(result.stderr or "").strip().splitlines()
    if result.exit_status == 127:
        return f"{host}: no Python at {python!r} ({stderr[-1] if stderr else 'not found'})"
    if result.exit_status != 0:
        last = stderr[-1] if stderr else f"exit status {result.exit_status}"
        return (f"{host}: {python} cannot import cumulus ({last}); install cumulus-ml=="
                f"{version} there")
    theirs = str(result.stdout or "").split()
    if not theirs or theirs[0] != version:
        found = theirs[0] if theirs else "nothing"
        return (f"{host}: {python} has cumulus {found}, this client has {version}; install "
                f"cumulus-ml=={version} there")
    return None


def ssh_node_specs(cfg: ClusterConfig,
                   tls: bool = False) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The scheduler's spec and one named node spec per worker host (``node-<i>-<host>``):
    the name reaches the remote worker, so the scheduler can retire exactly that node. With
    ``tls`` the scheduler listens on ``tls://`` (nodes follow its address's scheme)."""
    from distributed.deploy.ssh import Scheduler, Worker

    kw = ssh_cluster_kwargs(cfg)
    hosts, python = kw["hosts"], kw.get("remote_python")
    scheduler_kwargs = dict(kw["scheduler_options"])
    if tls:
        scheduler_kwargs["protocol"] = "tls"
    scheduler = {"cls": Scheduler, "options": {
        "address": hosts[0], "connect_options": kw["connect_options"],
        "kwargs": scheduler_kwargs, "remote_python": python}}
    pool = {}
    for i, host in enumerate(hosts[1:]):
        name = f"node-{i}-{host}"
        pool[name] = {"cls": Worker, "options": {
            "address": host, "connect_options": kw["connect_options"],
            "kwargs": {**kw["worker_options"], "name": name},
            "worker_class": kw["worker_class"], "remote_python": python}}
    return scheduler, pool


def make_ssh_cluster(cfg: ClusterConfig) -> Any:
    """A Dask SpecCluster over SSH that starts nodes only when scaled up and stops them for
    real when scaled down.

    Dask's ``SSHCluster`` starts a worker on every host at once, and on scale-down only
    closes its SSH channel, which leaves the remote worker process running and connected
    (a 2-host target kept 2 nodes with nothing queued). Here each node is named, starts on
    demand, and is retired through the scheduler (``close_workers=True``: the remote worker
    and its nanny exit) before its SSH channel closes.
    """
    from cumulus.compute._base import require_extra

    require_extra("ssh")
    import dask
    from distributed.deploy.spec import SpecCluster

    tls = None
    if cfg.options.get("tls", True):     # across hosts: TLS with this cluster's own key pair
        from cumulus.compute._tls import TLSFiles

        tls = TLSFiles.create()
        kw = ssh_cluster_kwargs(cfg)
        tls.copy_to(kw["hosts"], kw["connect_options"])
        # paths only; the remote scheduler and nodes inherit this configuration
        dask.config.set(tls.dask_config())
    scheduler, pool = ssh_node_specs(cfg, tls=tls is not None)
    initial = dict(list(pool.items())[:cfg.min_nodes])
    cluster = SpecCluster(initial, scheduler, name="SSHCluster",
                          security=tls.security() if tls else None)
    cluster._cumulus_tls = tls  # type: ignore[attr-defined]

    def new_worker_spec() -> dict[Any, Any]:  # scale up onto a host without a node
        free = [name for name in pool if name not in cluster.worker_spec]
        return {free[0]: pool[free[0]]}

    correct = cluster._correct_state_internal

    async def retire_then_correct() -> None:
        leaving = [name for name in cluster.workers if name not in cluster.worker_spec]
        if leaving and cluster.scheduler_comm is not None:
            try:
                await cluster.scheduler_comm.retire_workers(names=leaving, close_workers=True)
            except Exception:   # the scheduler is going away too: closing the channel will do
                pass
        await correct()

    cluster.new_worker_spec = new_worker_spec  # type: ignore[method-assign]
    cluster._correct_state_internal = retire_then_correct  # type: ignore[method-assign]
    return cluster


# kubernetes ------------------------------------------------------------------------------
#: the scheduler pod's resources unless options['scheduler_resources'] says otherwise: never
#: the nodes' (a GPU node shape must not make the scheduler ask for a GPU)
SCHEDULER_RESOURCES = {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "2Gi"}}


def kubernetes_node_resources(cfg: ClusterConfig) -> dict[str, dict[str, str]]:
    """A node's pod resources: requests = limits = the NodeSpec (GPUs as nvidia.com/gpu)."""
    requests: dict[str, str] = {"cpu": str(cfg.node.cpus)}
    if cfg.node.memory_bytes:
        requests["memory"] = str(cfg.node.memory_bytes)
    limits = dict(requests)
    if cfg.node.gpus:
        limits["nvidia.com/gpu"] = str(cfg.node.gpus)
    return {"requests": requests, "limits": limits}


def kubernetes_manifest(cfg: ClusterConfig) -> dict[str, Any]:
    """The ``DaskCluster`` resource (dask-kubernetes' operator) this target creates: built
    with the operator's own ``make_cluster_spec``, then the scheduler's resources set apart
    from the nodes'. ``kubectl apply -f`` of its YAML creates the same cluster by hand."""
    from cumulus.compute._base import require_extra

    require_extra("kubernetes")
    from dask_kubernetes.operator import make_cluster_spec

    o = cfg.options
    command = o.get("worker_command") or [
        "dask-worker", "--nthreads", str(cfg.node.cpus), "--resources", _resources_arg(cfg)]
    spec: dict[str, Any] = make_cluster_spec(
        name=o.get("cluster_name", "cumulus"), image=o["image"], n_workers=cfg.min_nodes,
        resources=kubernetes_node_resources(cfg), env=dict(o.get("env") or {}),
        worker_command=command,
        scheduler_service_type=o.get("scheduler_service_type", "ClusterIP"))
    for container in spec["spec"]["scheduler"]["spec"]["containers"]:
        container["resources"] = o.get("scheduler_resources") or SCHEDULER_RESOURCES
    if o.get("namespace"):
        spec["metadata"]["namespace"] = o["namespace"]
    return spec


def kubernetes_cluster_kwargs(cfg: ClusterConfig) -> dict[str, Any]:
    """Keyword arguments of dask-kubernetes' operator ``KubeCluster``: the manifest above as
    its ``custom_cluster_spec``."""
    o = cfg.options
    kwargs: dict[str, Any] = {"name": o.get("cluster_name", "cumulus"),
                              "custom_cluster_spec": kubernetes_manifest(cfg)}
    for key in ("namespace", "resource_timeout"):
        if key in o:
            kwargs[key] = o[key]
    return kwargs


def make_kubernetes_cluster(cfg: ClusterConfig) -> Any:
    from cumulus.compute._base import require_extra

    require_extra("kubernetes")
    from dask_kubernetes.operator import KubeCluster

    return KubeCluster(**kubernetes_cluster_kwargs(cfg))


# azure -----------------------------------------------------------------------------------
def azure_cluster_kwargs(cfg: ClusterConfig) -> dict[str, Any]:
    """Keyword arguments of dask-cloudprovider's ``AzureVMCluster``; one VM per node."""
    o = cfg.options
    kwargs: dict[str, Any] = {
        "location": o["location"], "resource_group": o["resource_group"],
        "vnet": o["vnet"], "security_group": o["security_group"],
        "n_workers": cfg.min_nodes,
        "worker_options": _worker_options(cfg),
        "vm_size": o.get("vm_size", "Standard_DS1_v2"),
    }
    for key in ("scheduler_vm_size", "docker_image", "public_ingress", "disk_size",
                "env_vars", "subscription_id", "bootstrap", "extra_vm_options", "subnet",
                "vm_image", "auto_shutdown"):
        if key in o:
            kwargs[key] = o[key]
    return kwargs


def make_azure_cluster(cfg: ClusterConfig) -> Any:
    from cumulus.compute._base import require_extra

    require_extra("azure")
    from dask_cloudprovider.azure import AzureVMCluster

    return AzureVMCluster(**azure_cluster_kwargs(cfg))
