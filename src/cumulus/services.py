"""Every background process Cumulus runs for a workspace: listed with its memory, and stoppable.

Kinds (each stopped through its own owner, so state stays consistent):

- ``compute``: a compute target's manager (the Dask scheduler and its workers);
- ``pipeline-agent`` and ``prefect-server``: what runs pipelines;
- ``sweep-controller``: a sweep's controller (a stopped sweep resumes with ``cumulus sweep
  resume ID``);
- ``model-service``: a local scoring service (``svc.update()`` or redeploying starts it again).

Example::

    for s in list_services(ws):
        print(s.kind, s.name, s.pid, s.rss_mb)
    stop_services(ws)                          # everything
    stop_services(ws, kinds=["compute"])       # only the compute managers
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cumulus.errors import ValidationError, allowed_list, did_you_mean

if TYPE_CHECKING:
    from cumulus.workspace import Workspace

KINDS = ("compute", "pipeline-agent", "prefect-server", "sweep-controller", "model-service")


@dataclass(frozen=True)
class ServiceInfo:
    kind: str
    name: str
    pid: int
    rss_mb: float
    cpu_seconds: float
    started: float
    command: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}"


def process_tree_info(pid: Any) -> tuple[float, float, float, str] | None:
    """(RSS MB of the process and its children, CPU seconds, start time, command) or None
    when no such process runs."""
    import psutil

    try:
        proc = psutil.Process(int(pid))
        procs = [proc, *proc.children(recursive=True)]
        rss = cpu = 0.0
        for p in procs:
            try:
                rss += p.memory_info().rss
                times = p.cpu_times()
                cpu += times.user + times.system
            except psutil.Error:
                continue
        return rss / 2**20, cpu, proc.create_time(), " ".join(proc.cmdline()[:4])
    except (psutil.Error, TypeError, ValueError):
        return None


def _info(kind: str, name: str, pid: Any) -> ServiceInfo | None:
    found = process_tree_info(pid) if pid else None
    if found is None:
        return None
    rss, cpu, started, command = found
    return ServiceInfo(kind, name, int(pid), round(rss, 1), round(cpu, 1), started, command)


def _compute(ws: Workspace) -> Iterator[ServiceInfo]:
    for rec in ws.store.computes.list():
        state = rec.get("state") or {}
        info = _info("compute", rec["name"], state.get("pid"))
        if info is not None:
            yield info


def _pipelines(ws: Workspace) -> Iterator[ServiceInfo]:
    from cumulus.flows._agent import read_state
    from cumulus.flows._server import LocalServer

    agent = _info("pipeline-agent", ws.name, read_state(ws).get("pid"))
    local = LocalServer(ws)     # one per installation, listed by each workspace using it
    server = _info("prefect-server", "shared", local.state().get("pid")) \
        if local.registered() else None
    yield from (s for s in (agent, server) if s is not None)


def _sweeps(ws: Workspace) -> Iterator[ServiceInfo]:
    from cumulus.sweeps import _state

    for run_id in _state.list_ids(ws.store):
        rec = _state.find(ws.store, run_id)
        if rec is not None and rec.controller_pid and rec.controller_alive():
            info = _info("sweep-controller", run_id, rec.controller_pid)
            if info is not None:
                yield info


def _models(ws: Workspace) -> Iterator[ServiceInfo]:
    from cumulus.models import Webservice

    for svc in Webservice.list(ws):
        pid = (svc._record.get("state") or {}).get("pid")
        info = _info("model-service", svc.name, pid) if svc.kind == "local" else None
        if info is not None:
            yield info


_LISTERS = {"compute": _compute, "pipeline-agent": _pipelines, "sweep-controller": _sweeps,
            "model-service": _models}


def list_services(ws: Workspace, kinds: Iterable[str] | None = None) -> list[ServiceInfo]:
    """The background processes running for ``ws`` now (only ``kinds``, if given)."""
    wanted = _check_kinds(kinds)
    seen: list[ServiceInfo] = []
    for lister in dict.fromkeys(_LISTERS.values()):
        seen += [s for s in lister(ws) if s.kind in wanted]
    return seen


def _check_kinds(kinds: Iterable[str] | None) -> set[str]:
    wanted = set(kinds or KINDS)
    for kind in wanted:
        if kind not in KINDS:
            raise ValidationError(f"Unknown service kind {kind!r}. Allowed: "
                                  f"{allowed_list(KINDS)}." + did_you_mean(kind, KINDS))
    return wanted


def stop_service(ws: Workspace, service: ServiceInfo) -> bool:
    """Stop one service through its owner (grace, then kill); False when it is kept (the
    Prefect server, while another workspace on this machine uses it)."""
    if service.kind == "compute":
        from cumulus.compute import ComputeTarget

        ComputeTarget(ws, service.name).backend.stop()
    elif service.kind == "pipeline-agent":
        from cumulus.flows._agent import stop_agent

        stop_agent(ws)
    elif service.kind == "prefect-server":
        from cumulus.flows._server import LocalServer

        return LocalServer(ws).release()    # stops it unless another workspace uses it
    elif service.kind == "sweep-controller":
        terminate(service.pid)
    elif service.kind == "model-service":
        from cumulus.models import Webservice

        Webservice(ws, service.name)._backend().stop_process()  # type: ignore[attr-defined]
    return True


def terminate(pid: int, grace: float = 10.0) -> bool:
    """SIGTERM, then SIGKILL after ``grace`` seconds; True when the process is gone."""
    import psutil

    try:
        proc = psutil.Process(pid)
        proc.terminate()
        proc.wait(grace)
    except psutil.TimeoutExpired:
        proc.kill()
    except psutil.NoSuchProcess:
        return True
    return not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def stop_services(ws: Workspace, kinds: Iterable[str] | None = None,
                  names: Iterable[str] | None = None) -> list[ServiceInfo]:
    """Stop the workspace's services (of ``kinds``, named ``names``); returns those stopped.

    Pipeline agents stop before the Prefect server they report to.
    """
    only = set(names or ())
    order = {k: i for i, k in enumerate(("sweep-controller", "pipeline-agent", "compute",
                                         "model-service", "prefect-server"))}
    stopped = []
    for service in sorted(list_services(ws, kinds), key=lambda s: order[s.kind]):
        if only and service.name not in only and service.key not in only:
            continue
        if stop_service(ws, service):
            stopped.append(service)
    return stopped


__all__ = ["KINDS", "ServiceInfo", "list_services", "process_tree_info", "stop_service",
           "stop_services", "terminate"]
