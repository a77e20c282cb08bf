"""The pipeline agent: a per-workspace process that runs queued pipeline runs.

``exp.submit(pipeline)`` records the run ``Queued`` and makes sure the agent is alive; the
agent claims the run (Queued -> Starting, compare-and-set, so a run executes once) and forks a
child process that runs the Prefect flow. Why a detached agent and not a thread of the caller:
the pipeline outlives the notebook or the ``cumulus pipeline run`` command that started it, a
crash of one pipeline cannot take the caller (or another pipeline) down, and Prefect's 4-7 s
import, its event loop and its logging set-up stay out of the user's process. The agent
imports Prefect once and forks (it never starts a thread, so forking is safe), so a pipeline
starts in about a second instead of paying the import every time.

State: ``.cumulus/pipelines/agent.json`` (pid, Prefect API URL, heartbeat). The agent exits
after ``CUMULUS_PIPELINE_AGENT_IDLE`` seconds (default 900) without work; the next submission
starts it again.

Example::

    ensure_agent(ws)        # returns at once; the agent picks up Queued pipeline runs
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cumulus._hashing import text_digest
from cumulus._install import PACKAGE_ROOT
from cumulus._procs import pid_alive
from cumulus.flows._prefect import EPHEMERAL, resolve_api
from cumulus.flows._server import SERVER_ENV

if TYPE_CHECKING:
    from cumulus.workspace import Workspace

POLL = 1.0           # the store is read this often; a submit on this host wakes it at once
WAKE = signal.SIGUSR1
HEARTBEAT = 2.0
STALE_AFTER = 20.0
START_GRACE = 180.0
RECOVER_EVERY = 30.0  # importing Prefect on a loaded machine can take a while


def _state_file(ws: Workspace) -> Path:
    return ws.state_dir / "pipelines" / "agent.json"


def read_state(ws: Workspace) -> dict[str, Any]:
    try:
        return dict(json.loads(_state_file(ws).read_text()))
    except (OSError, ValueError):
        return {}


def _write_state(ws: Workspace, **values: Any) -> None:
    """Merge ``values`` into the agent's state file; the read-modify-write holds a lock of
    its own, so the agent's heartbeat and a spawner's write never undo each other."""
    from cumulus._procs import file_lock

    if not ws.state_dir.is_dir():    # the workspace was deleted: never bring it back
        return
    path = _state_file(ws)
    path.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(ws.state_dir / "locks" / "pipeline-agent-state.lock"):
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({**read_state(ws), **values}))
        tmp.replace(path)


def code_version() -> str:
    """Changes when the installed cumulus code changes: a stale agent is replaced."""

    import cumulus

    root = Path(cumulus.__file__).resolve().parent
    stamps = [cumulus.__version__]
    for path in sorted(root.rglob("*.py")):
        st = path.stat()
        stamps.append(f"{path.relative_to(root)}:{st.st_size}:{st.st_mtime_ns}")
    return text_digest("|".join(stamps), 16)


def agent_alive(state: dict[str, Any]) -> bool:
    """Alive: its process exists and it beat recently (or is still importing Prefect)."""
    now = time.time()
    return pid_alive(state.get("pid"), state.get("pid_started")) and (
        now - float(state.get("heartbeat") or 0) < STALE_AFTER
        or now - float(state.get("started") or 0) < START_GRACE)


@contextmanager
def _locked(ws: Workspace) -> Iterator[None]:
    from cumulus._procs import file_lock

    with file_lock(ws.state_dir / "locks" / "pipeline-agent.lock"):
        yield


def ensure_agent(ws: Workspace) -> dict[str, Any]:
    """Make sure an agent for ``ws`` runs with the right Prefect API; returns its state."""
    api = resolve_api(ws, start=True) or EPHEMERAL
    version = code_version()
    with _locked(ws):
        state = read_state(ws)
        if agent_alive(state) and state.get("api") == api and state.get("version") == version:
            wake_agent(state)
            return state
        if agent_alive(state):
            stop_agent(ws)
        return _spawn(ws, api, version)


def _spawn(ws: Workspace, api: str, version: str) -> dict[str, Any]:
    log = ws.state_dir / "logs" / "pipeline-agent.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(SERVER_ENV)
    if api != EPHEMERAL:
        env["PREFECT_API_URL"] = api
    env["CUMULUS_WS_PAYLOAD"] = json.dumps(ws.payload())
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [PACKAGE_ROOT, env.get("PYTHONPATH")]))
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "cumulus.flows._agent"],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, env=env, cwd=str(ws.root))
    from cumulus._procs import ProcessRef

    state = {**ProcessRef.of(proc.pid).to_dict(), "api": api, "heartbeat": time.time(),
             "started": time.time(), "log": str(log), "version": version}
    _write_state(ws, **state)
    return state


def wake_agent(state: dict[str, Any]) -> None:
    """Tell the agent on this host that a pipeline run is queued (best effort: it also reads
    the store every second)."""
    pid = state.get("pid")
    # only once its handler is in place: SIGUSR1 kills a process that has not set one (an
    # agent still importing Prefect), and a starting agent reads the store first anyway
    if pid and state.get("listening") == pid and pid_alive(pid, state.get("pid_started")):
        try:
            os.kill(int(pid), WAKE)
        except (ProcessLookupError, PermissionError):
            pass


def stop_services(ws: Workspace, *, server: bool = True) -> dict[str, bool]:
    """Stop the workspace's pipeline agent and (unless told not to) release the Prefect
    server: it stops too unless another workspace on this machine uses it.

    Running pipelines continue in their own processes. Example::

        stop_services(ws)      # {'agent': True, 'prefect_server': True}
    """
    from cumulus.flows._server import LocalServer

    return {"agent": stop_agent(ws),
            "prefect_server": LocalServer(ws).release() if server else False}


def stop_agent(ws: Workspace, timeout: float = 10.0) -> bool:
    """Stop the agent (running pipelines continue in their own processes)."""
    state = read_state(ws)
    pid = state.get("pid")
    if pid is None or not pid_alive(pid, state.get("pid_started")):
        return False
    try:     # the agent alone (its pipeline children continue)
        os.kill(int(pid), signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while pid_alive(pid, state.get("pid_started")) and time.monotonic() < deadline:
        time.sleep(0.05)
    return True


class Agent:
    """The agent loop: claim Queued pipeline runs, fork one child per run, reap children."""

    def __init__(self, ws: Workspace, idle_limit: float) -> None:
        self.ws = ws
        self.idle_limit = idle_limit
        self.children: dict[int, str] = {}
        self.stopping = False
        self.node = f"{socket.gethostname()}:{os.getpid()}"

    def loop(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stopping", True))
        # a submit (SIGUSR1) or a child ending (SIGCHLD) wakes the loop at once: the signals
        # write to a pipe the loop waits on (the self-pipe trick)
        self.wake_r, wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        for sig in (WAKE, signal.SIGCHLD):
            signal.signal(sig, lambda *_: None)
        _write_state(self.ws, listening=os.getpid())      # wake_agent may signal it now
        idle_since = time.monotonic()
        beat = recovered = 0.0
        while not self.stopping:
            now = time.monotonic()
            if now - beat > HEARTBEAT:
                _write_state(self.ws, pid=os.getpid(), heartbeat=time.time())
                beat = now
            if now - recovered > RECOVER_EVERY:
                self.recover()
                recovered = now
            self.reap()
            if not self.ws.state_dir.is_dir():
                print("the workspace folder is gone: exiting", flush=True)
                return
            if self.claim_and_fork() or self.children:
                idle_since = now
            elif now - idle_since > self.idle_limit:
                print(f"agent idle for {self.idle_limit:.0f} s: exiting", flush=True)
                return
            self._wait(POLL)

    def _wait(self, timeout: float) -> None:
        """Sleep until woken by a signal, or ``timeout``."""
        import select

        ready, _, _ = select.select([self.wake_r], [], [], timeout)
        if ready:
            try:
                while os.read(self.wake_r, 512):
                    pass
            except BlockingIOError:
                pass

    def claim_and_fork(self) -> int:
        store = self.ws.store
        started = 0
        for rec in store.list_runs(kind="pipeline", status="Queued", newest_first=False,
                                   limit=20):
            if store.try_transition(rec["id"], "Starting", expected=["Queued"], node=self.node,
                                    reason="picked up by the pipeline agent"):
                self.children[self._fork(rec["id"])] = rec["id"]
                started += 1
        return started

    def _fork(self, run_id: str) -> int:
        log = self.ws.state_dir / "logs" / "pipelines" / f"{run_id}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid:
            return pid
        signal.set_wakeup_fd(-1)              # the child is not the agent
        for sig in (WAKE, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        code = 1
        try:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            code = _child(run_id)
        except BaseException:
            traceback.print_exc()
        finally:
            _stop_ephemeral_server()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

    def reap(self) -> None:
        for pid in list(self.children):
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done, status = pid, 0
            if not done:
                continue
            run_id = self.children.pop(pid)
            code = os.waitstatus_to_exitcode(status) if status else 0
            self._fail_unfinished(run_id, code)

    def recover(self) -> None:
        """Fail pipeline runs whose process on this host died while no agent watched it."""
        host = socket.gethostname()
        mine = set(self.children.values())
        for status in ("Starting", "Running", "CancelRequested"):
            for rec in self.ws.store.list_runs(kind="pipeline", status=status):
                props = rec.get("properties") or {}
                pid = props.get("pipeline_pid")
                if rec["id"] in mine or not pid or props.get("pipeline_host") != host:
                    continue
                if not pid_alive(pid):
                    self._fail_unfinished(rec["id"], -1)

    def _fail_unfinished(self, run_id: str, code: int) -> None:
        from cumulus.store.status import TERMINAL
        from cumulus.tasks.cancel import cancel_run

        store = self.ws.store
        if store.get_status(run_id) in {s.value for s in TERMINAL}:
            return
        message = (f"the pipeline process exited with code {code} before the pipeline "
                   f"finished; see {self.ws.state_dir / 'logs' / 'pipelines' / run_id}.log")
        store.append_log(run_id, message + "\n")
        store.try_transition(run_id, "Failed", reason=message, error={"message": message})
        cancel_run(store, run_id, message)
        flow_run = (store.get_run(run_id).get("properties") or {}).get("prefect_flow_run_id")
        url = os.environ.get("PREFECT_API_URL")
        if flow_run and url:
            try:
                from cumulus.flows._prefect import PrefectAPI

                PrefectAPI(url).set_state(flow_run, "CRASHED", "Crashed", message, force=True)
            except Exception:
                pass


def _stop_ephemeral_server() -> None:
    """In ephemeral mode Prefect started a temporary server for this process; os._exit
    skips the atexit hook that stops it, so stop it here (else it leaks, ~250 MB)."""
    module = sys.modules.get("prefect.server.api.server")
    if module is None:
        return
    for server in list(getattr(module.SubprocessASGIServer, "_instances", {}).values()):
        try:
            server.stop()
        except Exception:
            pass


def _child(run_id: str) -> int:
    """In the forked child: a fresh workspace (new store engine), a watchdog, the flow."""
    from cumulus.flows._engine import run_pipeline_process
    from cumulus.workspace import Workspace

    ws = Workspace.from_payload(json.loads(os.environ["CUMULUS_WS_PAYLOAD"]))
    ws.store.merge_run_dict(run_id, "properties", {"pipeline_pid": os.getpid(),
                                                   "pipeline_host": socket.gethostname()})
    import threading

    threading.Thread(target=_watchdog, args=(ws, run_id), daemon=True,
                     name="cumulus-watchdog").start()
    return run_pipeline_process(ws, run_id)


def _watchdog(ws: Workspace, run_id: str, grace: float = 60.0,
              api_timeout: float = 300.0) -> None:
    """End this process if Prefect keeps it alive after the pipeline ended, if the
    Prefect API stays unreachable (the pipeline then fails and its steps are canceled), or
    at once if the workspace folder is gone."""
    from cumulus.flows._server import healthy
    from cumulus.store.status import TERMINAL

    terminal = {s.value for s in TERMINAL}
    url = os.environ.get("PREFECT_API_URL")
    ended_at = down_since = None
    while True:
        time.sleep(5)
        now = time.monotonic()
        if not ws.state_dir.is_dir():   # the workspace was deleted: nothing to report to
            os._exit(1)
        try:
            status = ws.store.get_status(run_id)
        except Exception:               # a store hiccup: keep watching (it retries outages)
            continue
        if status in terminal:
            ended_at = ended_at or now
            if now - ended_at > grace:
                os._exit(0 if status == "Completed" else 1)
            continue
        if url and not healthy(url, timeout=5):
            down_since = down_since or now
            if now - down_since > api_timeout:
                from cumulus.tasks.cancel import cancel_run

                message = f"the Prefect API at {url} was unreachable for {api_timeout:.0f} s"
                ws.store.append_log(run_id, message + "\n")
                ws.store.try_transition(run_id, "Failed", reason=message,
                                        error={"message": message})
                cancel_run(ws.store, run_id, message)
                os._exit(1)
        else:
            down_since = None


def _warm_imports() -> None:
    """Import what every pipeline process needs, before forking (no threads are started)."""
    import cloudpickle  # noqa: F401
    import prefect
    import prefect.flow_engine
    import prefect.runtime
    import prefect.states
    import prefect.task_runners  # noqa: F401

    import cumulus.compute
    import cumulus.datastores
    import cumulus.flows._engine
    import cumulus.flows._stepexec
    import cumulus.runconfig
    import cumulus.tasks.submit  # noqa: F401


def main() -> int:
    from cumulus.workspace import Workspace

    ws = Workspace.from_payload(json.loads(os.environ["CUMULUS_WS_PAYLOAD"]))
    idle = float(os.environ.get("CUMULUS_PIPELINE_AGENT_IDLE", "900"))
    _write_state(ws, pid=os.getpid(), heartbeat=time.time())
    _warm_imports()
    url = os.environ.get("PREFECT_API_URL")
    if url:
        from cumulus.flows._server import server_home, wait_healthy

        wait_healthy(url, log=server_home() / "prefect-server.log")
    print(f"pipeline agent {os.getpid()} for {ws.root}: Prefect API {url or EPHEMERAL}",
          flush=True)
    Agent(ws, idle).loop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
