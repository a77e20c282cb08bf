"""What runs on each node of a distributed run (PyTorch, TensorFlow, MPI distributions).

A run with ``distribution`` is submitted by the launch layer (``compute/_launch.py``) as
``node_count`` Dask tasks keyed ``cumulus-run-<id>`` (node 0) and ``cumulus-run-<id>-node<k>``,
each asking for a whole node so no two share one; each runs :func:`run_node`. The nodes
meet through the store: node 0 claims the run (Queued -> Preparing), every node publishes
``{"host", "port"}`` as ``properties["node_<k>"]``, and once all are present node 0 moves the
run to Running; then each node starts
``process_count_per_node`` processes with the launcher variables (MASTER_ADDR, RANK,
WORLD_SIZE, TF_CONFIG, CUMULUS_HOSTS, ...).

One rank exiting non-zero fails the run; every node watches the run's status and stops its
processes when it fails or is canceled. Each rank's output goes to the run's log, prefixed
``[rank R] ``, and to ``logs/rank_<R>.txt``. Only rank 0's metrics are ingested. Node ``k > 0``
uploads its outputs and records ``node_<k>_done``; node 0 then finalizes the run.

Example::

    cuda_visible_devices(4, local_rank=1, local_world_size=2)   # '2,3'
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from typing import Any

from cumulus.specs import ScriptSpec
from cumulus.store.status import TERMINAL, RunStatus
from cumulus.tasks._guard import node_guard
from cumulus.tasks._process import LogFile, discard_dir
from cumulus.tasks.events import cancel_board, publish_event
from cumulus.tasks.executor import (
    CANCEL_CHECK,
    HEARTBEAT,
    KILL_GRACE,
    LOG_FLUSH,
    LOGS_SYNC,
    POLL,
    _Execution,
)
from cumulus.tasks.ingest import Ingestor, wait_quiet

GANG_TIMEOUT = 120.0
RENDEZVOUS_POLL = 0.2
STOPPED = {RunStatus.FAILED.value, RunStatus.CANCELED.value, RunStatus.CANCEL_REQUESTED.value,
           RunStatus.COMPLETED.value}


def run_node(ws: Any, run_id: str, node_rank: int, node_count: int,
             attempt_limit: int = 3) -> str:
    return _NodeExecution(ws, run_id, attempt_limit, node_rank, node_count).run()


# pure helpers -------------------------------------------------------------------------------
def cuda_visible_devices(node_gpus: int, local_rank: int, local_world_size: int,
                         visible: list[str] | None = None) -> str | None:
    """The CUDA_VISIBLE_DEVICES of one process: its local_rank-based slice of the node's gpus.

    ``visible`` maps node gpu indexes to device ids (the node's own CUDA_VISIBLE_DEVICES).
    None when the node has no gpus (leave the variable alone).

    >>> cuda_visible_devices(4, 1, 2)
    '2,3'
    >>> cuda_visible_devices(2, 3, 4, ["5", "7"])
    '7'
    """
    if node_gpus <= 0:
        return None
    ids = list(visible) if visible else [str(i) for i in range(node_gpus)]
    ids = ids[:node_gpus]
    per = len(ids) // max(1, local_world_size)
    if per == 0:       # more processes than gpus: share them round-robin
        return ids[local_rank % len(ids)]
    return ",".join(ids[local_rank * per:(local_rank + 1) * per])


def rank_env(dist: dict[str, Any], nodes: list[dict[str, Any]], node_rank: int,
             local_rank: int, hostfile: str | None = None, node_gpus: int = 0,
             visible: list[str] | None = None) -> dict[str, str]:
    """The launcher variables of one process (pure: tested with literals)."""
    ppn = int(dist.get("process_count_per_node") or 1)
    world = ppn * len(nodes)
    rank = node_rank * ppn + local_rank
    env = {
        "MASTER_ADDR": str(nodes[0]["host"]), "MASTER_PORT": str(nodes[0]["port"]),
        "RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(local_rank),
        "LOCAL_WORLD_SIZE": str(ppn), "NODE_RANK": str(node_rank),
        "GROUP_RANK": str(node_rank), "CUMULUS_NODE_RANK": str(node_rank),
        "CUMULUS_NODE_COUNT": str(len(nodes)),
        "CUMULUS_HOSTS": ",".join(f"{n['host']}:{ppn}" for n in nodes),
    }
    if hostfile:
        env["CUMULUS_HOSTFILE"] = hostfile
    if dist.get("type") == "tensorflow":
        workers = int(dist.get("worker_count") or 1)
        addrs = [f"{n['host']}:{n['port']}" for n in nodes]
        cluster: dict[str, list[str]] = {"worker": addrs[:workers]}
        if addrs[workers:]:
            cluster["ps"] = addrs[workers:]
        task = ({"type": "worker", "index": node_rank} if node_rank < workers
                else {"type": "ps", "index": node_rank - workers})
        env["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": task})
    cuda = cuda_visible_devices(node_gpus, local_rank, ppn, visible)
    if cuda is not None:
        env["CUDA_VISIBLE_DEVICES"] = cuda
    return env


def interface_of(address: str) -> str | None:
    """The name of this machine's network interface that holds ``address`` (None if none)."""
    import psutil

    for name, addrs in psutil.net_if_addrs().items():
        if any(a.address == address for a in addrs):
            return name
    return None


def socket_ifname_env(host: str) -> dict[str, str]:
    """GLOO/NCCL_SOCKET_IFNAME for a node reached at ``host``: collective libraries otherwise
    pick the interface their hostname resolves to (often loopback), and ranks on other
    machines cannot connect back. Empty for loopback or an address this machine lacks."""
    if host.startswith("127.") or host in ("localhost", "::1"):
        return {}
    name = interface_of(host)
    return {"GLOO_SOCKET_IFNAME": name, "NCCL_SOCKET_IFNAME": name} if name else {}


def hostfile_text(nodes: list[dict[str, Any]], slots: int) -> str:
    return "".join(f"{n['host']} slots={slots}\n" for n in nodes)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


def _worker_info() -> tuple[str, int]:
    """(this node's host as the cluster sees it, its gpu count)."""
    try:
        from distributed import get_worker

        w = get_worker()
        host = str(w.address).split("://", 1)[-1].rsplit(":", 1)[0]
        res = getattr(w.state, "total_resources", None) or getattr(w, "total_resources", {})
        return host, int(float((res or {}).get("gpus", 0)))
    except Exception:
        return socket.gethostname(), 0


class _Rank:
    def __init__(self, rank: int, proc: subprocess.Popen[bytes], out: LogFile) -> None:
        self.rank = rank
        self.proc = proc
        self.out = out
        self.partial = ""


class _NodeExecution(_Execution):
    def __init__(self, ws: Any, run_id: str, attempt_limit: int, node_rank: int,
                 node_count: int) -> None:
        super().__init__(ws, run_id, attempt_limit)
        self.node_rank = node_rank
        self.node_count = node_count
        self.run_dir = self.run_dir / f"node{node_rank}"      # nodes may share a machine
        self.control_dir = self.run_dir / ".cumulus-control"
        self.ranks: list[_Rank] = []
        self.lead = node_rank == 0

    # lifecycle ---------------------------------------------------------------------------
    def run(self) -> str:
        if not self._join():
            return self.store.get_status(self.run_id)
        try:
            return self._execute()
        except BaseException as exc:
            self._kill()
            self._fail(f"node {self.node_rank}: {type(exc).__name__}: {exc}")
            return self.store.get_status(self.run_id)
        finally:
            for fn in reversed(self.cleanup):
                try:
                    fn()
                except Exception:
                    pass
            discard_dir(self.run_dir)
            if self.lead:
                publish_event(self.topic, self.run_id, "end")

    def _join(self) -> bool:
        rec = self.store.get_run(self.run_id)
        status = RunStatus(rec["status"])
        if status in TERMINAL:
            return False
        if f"node_{self.node_rank}" in (rec.get("properties") or {}):
            self._fail(f"node {self.node_rank} of the distributed run was lost; distributed "
                       "runs are not retried")
            return False
        if not self.lead:
            return True
        if status is RunStatus.QUEUED:
            return self._claim()
        if status is RunStatus.CANCEL_REQUESTED:
            self.store.try_transition(self.run_id, RunStatus.CANCELED,
                                      reason="canceled before it started")
        return False

    def _execute(self) -> str:
        rec = self.store.get_run(self.run_id)
        spec = ScriptSpec.from_definition(rec["definition"])
        definition = spec.to_definition()
        argv, env = self._prepare(rec, spec)
        failed = self._job_preparation(spec, env, f" on node {self.node_rank}")
        if failed:
            self._fail(failed)
            return self.store.get_status(self.run_id)
        host, gpus = _worker_info()
        port = _free_port()
        self.store.merge_run_dict(self.run_id, "properties",
                                  {f"node_{self.node_rank}": {"host": host, "port": port}})
        nodes = self._rendezvous()
        if nodes is None:
            return self.store.get_status(self.run_id)
        dist = dict(definition.get("distribution") or {})
        ppn = int(dist.get("process_count_per_node") or 1)
        hostfile = self.run_dir / ".cumulus-hostfile"
        hostfile.write_text(hostfile_text(nodes, ppn))
        visible = [v for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v]
        env.update({k: v for k, v in socket_ifname_env(host).items() if k not in env})
        for local in range(ppn):
            rank = self.node_rank * ppn + local
            penv = dict(env)
            penv.update(rank_env(dist, nodes, self.node_rank, local, str(hostfile), gpus,
                                 visible or None))
            if rank != 0:      # only rank 0's metrics are the run's
                ctl = self.run_dir / f".rank{rank}-control"
                ctl.mkdir(exist_ok=True)
                penv["CUMULUS_CONTROL_DIR"] = str(ctl)
            self._start(rank, argv, penv)
        outcome = self._watch(definition)
        return self._finish(outcome)

    # rendezvous --------------------------------------------------------------------------
    def _rendezvous(self) -> list[dict[str, Any]] | None:
        """All nodes' {host, port}, once every node has joined and the run is Running."""
        deadline = time.monotonic() + GANG_TIMEOUT
        names = [f"node_{k}" for k in range(self.node_count)]
        while True:
            rec = self.store.get_run(self.run_id)
            status = rec["status"]
            props = rec.get("properties") or {}
            if status in STOPPED:
                if self.lead and status == RunStatus.CANCEL_REQUESTED.value:
                    self._finish_canceled()
                return None
            have = [n for n in names if n in props]
            if len(have) == len(names):
                if self.lead and status == RunStatus.PREPARING.value:
                    self.store.transition(self.run_id, RunStatus.RUNNING,
                                          expected=[RunStatus.PREPARING],
                                          reason=f"all {self.node_count} nodes started")
                    status = RunStatus.RUNNING.value
                if status == RunStatus.RUNNING.value:
                    return [props[n] for n in names]
            if time.monotonic() > deadline:
                self._fail(f"gang scheduling timed out: only {len(have)} of "
                           f"{self.node_count} nodes started within {GANG_TIMEOUT:.0f} s")
                return None
            time.sleep(RENDEZVOUS_POLL)

    # running -----------------------------------------------------------------------------
    def _start(self, rank: int, argv: list[str], env: dict[str, str]) -> None:
        out = LogFile(self.run_dir / "logs" / f"rank_{rank}.txt")
        try:
            proc = subprocess.Popen(argv, cwd=self.run_dir, env=env, stdin=subprocess.DEVNULL,
                                    stdout=out.fd, stderr=out.fd, start_new_session=True)
        finally:
            out.close()
        guard = node_guard()             # the rank's group dies with this node
        guard.watch(proc.pid, self.death_signal)
        self.cleanup.append(lambda: guard.release(proc.pid))
        self.ranks.append(_Rank(rank, proc, out))

    def _flush_logs(self, final: bool = False) -> None:
        for r in self.ranks:
            while True:    # one bounded chunk per rank; every chunk left at the end
                chunk = r.out.take()
                text = r.partial + chunk
                cut = len(text) if final else text.rfind("\n") + 1
                r.partial = text[cut:]
                lines = text[:cut].splitlines(keepends=True)
                if lines:
                    out = "".join(f"[rank {r.rank}] "
                                  f"{ln if ln.endswith(chr(10)) else ln + chr(10)}"
                                  for ln in lines)
                    self.store.append_log(self.run_id, out, stream=f"rank_{r.rank}")
                    publish_event(self.topic, self.run_id, "log")
                if not final or not chunk:
                    break

    def _watch(self, definition: dict[str, Any]) -> str:
        attempt = int(self.store.get_run(self.run_id).get("attempt") or 1)
        ingest = Ingestor(self.ws, self.run_id, str(self.control_dir), attempt) \
            if self.lead else None
        if ingest is not None:
            self.ingest = ingest
        limit = definition.get("max_run_duration_seconds")
        started = time.monotonic()
        timers = {"log": 0.0, "status": time.monotonic(), "beat": 0.0, "logs": time.monotonic()}
        synced: dict[str, tuple[int, int]] = {}
        outcome = "exited"
        heard = cancel_board().watch(self.run_id)   # a cancel pushed to this worker
        if heard is not None:
            self.cleanup.append(heard.close)
        while True:
            live = [r for r in self.ranks if r.proc.poll() is None]
            bad = [r for r in self.ranks if r.proc.returncode not in (None, 0)]
            if bad:
                r = bad[0]
                outcome = "failed"
                self._kill()
                self._fail(f"rank {r.rank} on node {self.node_rank} exited with code "
                           f"{r.proc.returncode}", code=r.proc.returncode)
                break
            if not live:
                break
            now = time.monotonic()
            if now - timers["log"] >= LOG_FLUSH:
                self._flush_logs()
                if ingest is not None and ingest.poll():
                    publish_event(self.topic, self.run_id, "metrics")
                timers["log"] = now
            if now - timers["status"] >= CANCEL_CHECK or (heard and heard.wait(0)):
                timers["status"] = now
                status = self.store.get_status(self.run_id)
                if status in STOPPED:
                    outcome = ("canceled" if status in (RunStatus.CANCEL_REQUESTED.value,
                                                        RunStatus.CANCELED.value) else "stopped")
                    self._kill()
                    break
            if limit and now - started > float(limit):
                outcome = "timeout"
                self._kill()
                break
            if self.lead and now - timers["beat"] >= HEARTBEAT:
                self.store.heartbeat(self.run_id)
                timers["beat"] = now
            if now - timers["logs"] >= LOGS_SYNC:
                self._sync_logs(synced)
                timers["logs"] = now
            try:
                live[0].proc.wait(timeout=POLL)
            except subprocess.TimeoutExpired:
                pass
        for r in self.ranks:
            r.proc.wait()
        self._flush_logs(final=True)
        if ingest is not None:
            wait_quiet(ingest)
        self._sync_logs(synced, final=outcome == "exited")
        return outcome

    def _kill(self) -> None:
        live = [r.proc for r in self.ranks if r.proc.poll() is None]
        for p in live:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + KILL_GRACE
        for p in live:
            try:
                p.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for p in live:     # the group may outlive its leader
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                pass

    # finishing ---------------------------------------------------------------------------
    def _finish(self, outcome: str) -> str:
        if outcome == "canceled":
            self._upload_quietly()
            return self._finish_canceled() if self.lead else self.store.get_status(self.run_id)
        if outcome == "timeout":
            self._upload_quietly()
            return self._fail("the run exceeded max_run_duration_seconds and was stopped")
        if outcome != "exited":
            if self.lead and hasattr(self, "data"):
                self.data.finalize(success=False)
            if self.lead and hasattr(self, "ingest"):
                self.ingest.close_children("Failed")
            return self.store.get_status(self.run_id)
        from cumulus.tasks.artifacts import upload_run_dir

        if not self.lead:
            upload_run_dir(self.ws, self.run_id, self.run_dir / "outputs", "outputs",
                           final=True)
            self.store.merge_run_dict(self.run_id, "properties",
                                      {f"node_{self.node_rank}_done": True})
            return self.store.get_status(self.run_id)
        while True:      # wait for the other nodes' processes (and their outputs)
            rec = self.store.get_run(self.run_id)
            if rec["status"] in STOPPED:
                self._upload_quietly()
                if rec["status"] == RunStatus.CANCEL_REQUESTED.value:
                    return self._finish_canceled()
                return rec["status"]
            props = rec.get("properties") or {}
            if all(props.get(f"node_{k}_done") for k in range(1, self.node_count)):
                break
            time.sleep(RENDEZVOUS_POLL)
        if not self.store.try_transition(self.run_id, RunStatus.FINALIZING,
                                         expected=[RunStatus.RUNNING], exit_code=0):
            return self._finish_canceled()
        upload_run_dir(self.ws, self.run_id, self.run_dir / "outputs", "outputs", final=True)
        self.data.finalize(success=True)
        self.ingest.close_children("Completed")
        self.store.transition(self.run_id, RunStatus.COMPLETED, expected=[RunStatus.FINALIZING],
                              reason=f"all {len(self.ranks) * self.node_count} ranks exited 0")
        return RunStatus.COMPLETED.value


__all__ = ["cuda_visible_devices", "hostfile_text", "rank_env", "run_node"]
