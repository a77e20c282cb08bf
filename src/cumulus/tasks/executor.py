"""What runs on a node: prepare, run the script as a subprocess, stream, finalize.

``execute_task`` is the Dask task a compute target submits. It moves the run through
Preparing -> Running -> Finalizing -> Completed / Failed / Canceled with compare-and-set
transitions, so a run is executed at most once at a time even if it is delivered twice.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cumulus._install import PACKAGE_ROOT
from cumulus.specs import ScriptSpec, TaskSpec
from cumulus.store.status import TERMINAL, RunStatus
from cumulus.tasks._guard import node_guard
from cumulus.tasks._node import give_back_room, prompt_reports, workspace_of
from cumulus.tasks._process import ExitWatch, LogFile, discard_dir
from cumulus.tasks.events import cancel_board, publish_event
from cumulus.tasks.ingest import Ingestor, wait_quiet

POLL = 0.05
ANNOUNCE_RUNNING_AFTER = 0.05   # seconds (see _run_process)
LOG_FLUSH = 0.25
CANCEL_CHECK = 0.5
HEARTBEAT = 5.0
LOGS_SYNC = 5.0
KILL_GRACE = 3.0
CHECKPOINTS = "outputs/checkpoints"   # the run's artifacts restored on a later attempt


def execute_task(task: TaskSpec, ws_payload: str | dict[str, Any]) -> str:
    """The Dask task of the launch layer: node ``task.rank`` of a distributed run, or a plain
    run; returns the run's final status. ``ws_payload``: the workspace's payload, as the
    JSON text the launch layer sends (see ``place``) or as a dict."""
    if task.world > 1 or task.distributed:
        from cumulus.tasks.distributed import run_node

        return run_node(workspace_of(ws_payload), task.run_id, task.rank,
                        task.world, task.attempt_limit)
    prompt_reports()
    return _Execution(workspace_of(ws_payload), task.run_id, task.attempt_limit,
                      task_key=task.key).run()


class _Execution:
    def __init__(self, ws: Any, run_id: str, attempt_limit: int,
                 task_key: str | None = None) -> None:
        self.ws = ws
        self.task_key = task_key    # its Dask task's (None: not run as a launch-layer task)
        self.quick_finish = False   # a clean exit with nothing to upload (see _finalize)
        self.running = False        # Running recorded (see _execute and _mark_running)
        self.started_at: Any = None  # when the script started, for Running's start time
        self.death_signal = signal.SIGKILL   # what the script gets if this node dies
        self.store = ws.store
        self.run_id = run_id
        self.attempt_limit = attempt_limit
        from cumulus.snapshot import cache_dir

        self.run_dir = cache_dir() / "runs" / run_id
        self.control_dir = self.run_dir / ".cumulus-control"
        self.proc: subprocess.Popen[bytes] | None = None
        self.cleanup: list[Any] = []
        self.claimed: dict[str, Any] | None = None
        self.topic: str | None = None  # a sweep controller's Dask event topic, if any
        self.tail: tuple[str, list[dict[str, Any]]] = ("", [])   # see _run_process
        self.attempt: int | None = None   # the attempt this execution is (see _move)

    # lifecycle ---------------------------------------------------------------------------
    def run(self) -> str:
        if not self._claim():
            status = self.store.get_status(self.run_id)
            publish_event(self.topic, self.run_id, "end", status=status)
            return status
        status = None    # as recorded by this executor: it travels with the end event
        try:
            status = self._execute()
            return status
        except BaseException as exc:  # record every failure; never leave a run dangling
            self._kill()
            try:
                self._flush_tail()
            except Exception:   # the failure below matters more than the last log lines
                pass
            status = self._fail(f"{type(exc).__name__}: {exc}", tb=traceback.format_exc())
            return RunStatus.FAILED.value
        finally:
            for fn in reversed(self.cleanup):
                try:
                    fn()
                except Exception:
                    pass
            publish_event(self.topic, self.run_id, "end", status=status)
            discard_dir(self.run_dir)

    def _claim(self) -> bool:
        """Take the run: Queued -> Preparing, the record read in the same statement; else
        read it and decide (ended, cancel requested, or an earlier attempt's node lost)."""
        node = f"{socket.gethostname()}:{os.getpid()}"
        rec = self.store.claim(self.run_id, node=node)
        if rec is not None:           # the common case: one statement
            self.topic = event_topic_of(rec)
            self.claimed = rec
            self.attempt = int(rec.get("attempt") or 1)
            return True
        rec = self.store.get_run(self.run_id)
        self.topic = event_topic_of(rec)
        status = RunStatus(rec["status"])
        if status in TERMINAL:
            return False
        if status is RunStatus.CANCEL_REQUESTED:
            self.store.try_transition(self.run_id, RunStatus.CANCELED,
                                      reason="canceled before it started")
            return False
        if status is RunStatus.QUEUED:   # requeued between the two statements
            return self._claim()
        attempt = int(rec.get("attempt") or 1) + 1    # an earlier attempt's node died mid-run
        if attempt > self.attempt_limit:
            self.store.try_transition(
                self.run_id, RunStatus.FAILED, reason="node lost; attempts exhausted",
                error={"message": f"The node running this run was lost {attempt - 1} "
                                  f"times (limit {self.attempt_limit})."})
            return False
        how = "preempted" if self._preemptible(rec) else "lost"
        if not self.store.try_transition(
                self.run_id, RunStatus.QUEUED, expected=[status], attempt=attempt,
                reason=f"requeued: node {how} while {status.value} (attempt {attempt})"):
            return False
        self._log_line(f"[cumulus] ----- attempt {attempt}: the node running attempt "
                       f"{attempt - 1} was {how} while {status.value}; starting again "
                       f"from its checkpoints, if it saved any -----")
        self._discard_earlier_outputs(attempt)
        self.claimed = None      # read again once claimed
        self.attempt = attempt
        return self.store.try_transition(self.run_id, RunStatus.PREPARING,
                                         expected=[RunStatus.QUEUED], node=node)

    def _discard_earlier_outputs(self, attempt: int) -> None:
        """Outputs an earlier attempt uploaded (all or part) never mix with this one's."""
        from cumulus.tasks.artifacts import discard_outputs

        try:
            removed = discard_outputs(self.ws, self.run_id, keep=CHECKPOINTS)
        except Exception as exc:   # a datastore hiccup must not stop the new attempt
            self._log_line(f"[cumulus] could not remove earlier attempts' outputs: {exc}")
            return
        if removed:
            self._log_line(f"[cumulus] attempt {attempt}: removed {removed} output file(s) "
                           "that an earlier attempt had uploaded")

    def _preemptible(self, rec: dict[str, Any]) -> bool:
        """Whether the run's target has low-priority (preemptible) nodes."""
        try:
            target = self.store.computes.get(str(rec.get("compute_target") or ""))
        except Exception:
            return False
        return bool(target) and (target.get("config") or {}).get("priority") == "low"

    def _execute(self) -> str:
        rec = self.claimed or self.store.get_run(self.run_id)
        spec = ScriptSpec.from_definition(rec["definition"])   # self.attempt: see _claim
        argv, env = self._prepare(rec, spec)
        failed = self._job_preparation(spec, env)
        if failed:
            return self._fail(failed)
        # Preparing took milliseconds unless something was built, fetched or run first: then
        # Running is recorded once the script has run for a moment (see _run_process), or
        # with its end, in one transaction (Preparing, Running, ... each keep their event)
        if not nothing_to_prepare(rec) and not self._mark_running():
            return self._finish_canceled()  # a cancel landed while it was preparing
        code, outcome = self._run_process(argv, env, spec)
        return self._finalize(code, outcome)

    def _move(self, to: RunStatus, **kwargs: Any) -> bool:
        """A transition of this attempt: refused, as any stale one, once a later attempt has
        the run (this node was taken for lost, and the run started again elsewhere)."""
        return self.store.try_transition(self.run_id, to, of_attempt=self.attempt, **kwargs)

    def _mark_running(self) -> bool:
        """Record Running (Preparing -> Running); False if a cancel came first."""
        if not self.running:
            self.running = self._move(
                RunStatus.RUNNING, expected=[RunStatus.PREPARING],
                **({"start_time": self.started_at} if self.started_at else {}))
        return self.running

    # preparing ---------------------------------------------------------------------------
    def _prepare(self, rec: dict[str, Any], spec: ScriptSpec,
                 ) -> tuple[list[str], dict[str, str]]:
        from cumulus.datastores._runtime import prepare_data
        from cumulus.snapshot import materialize_snapshot
        from cumulus.tasks.environments import prepare_environment

        if os.path.lexists(self.run_dir):     # an earlier attempt's, on this node
            shutil.rmtree(self.run_dir, ignore_errors=True)
        self.run_dir.mkdir(parents=True)
        definition = rec.get("definition") or spec.to_definition()   # for the data helpers
        if spec.snapshot:
            materialize_snapshot(spec.snapshot, self.ws.get_default_datastore(), self.run_dir)
        # ./outputs (and its checkpoints) and ./logs; the control folder is made by the
        # script's Run context when it first writes there (most trivial runs never do)
        for name in ("outputs", "logs"):     # kept where the snapshot has them already
            (self.run_dir / name).mkdir(exist_ok=True)
        self._restore_checkpoints()
        data = prepare_data(self.ws, self.run_id, definition, self.run_dir)
        self.cleanup.append(data.cleanup)
        self.data = data
        python, env_extra = prepare_environment(self.ws, spec.environment,
                                                log=self._log_line)
        env = dict(os.environ)
        for key in ("DASK_", "PREFECT_API_URL"):
            for k in [k for k in env if k.startswith(key)]:
                env.pop(k)
        env.update(env_extra)
        env.update(data.env)
        env.update(spec.environment_variables)
        env.update({
            "CUMULUS_RUN_ID": self.run_id,
            "CUMULUS_CONTROL_DIR": str(self.control_dir),
            "CUMULUS_EXPERIMENT": _experiment_name(self.store, rec["experiment_id"]),
            "CUMULUS_WORKSPACE": str(self.ws.root),
            "CUMULUS_OUTPUTS_DIR": str(self.run_dir / "outputs"),
            "CUMULUS_CHECKPOINT_DIR": str(self.checkpoint_dir),
            "CUMULUS_ATTEMPT": str(self.attempt or 1),
            "CUMULUS_NODE_NAME": _node_name(),
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join(
                [str(self.run_dir), package_path(), *filter(None, [env.get("PYTHONPATH")])]),
        })
        for k, v in (rec.get("params") or {}).items():
            env[f"CUMULUS_PARAM_{_env_name(k)}"] = str(v)
        args = [data.resolve(a) for a in spec.arguments]
        if spec.command:
            argv = [data.resolve(a) for a in spec.command] + args
        elif spec.module:      # a Cumulus module run on the node (batch workers)
            argv = [python, "-m", spec.module, *args]
        else:
            argv = [python, str(spec.script), *args]
        from cumulus.tasks.containers import is_container_definition, wrap_for_container

        # a container's launcher stops its container when told (SIGTERM), then exits
        self.death_signal = signal.SIGTERM if is_container_definition(definition) \
            else signal.SIGKILL
        argv = wrap_for_container(definition, [str(a) for a in argv], env, self.run_dir,
                                  log=self._log_line)
        return argv, env

    def _job_preparation(self, spec: ScriptSpec, env: dict[str, str],
                         label: str = "") -> str | None:
        """Run the definition's ``job_preparation`` command here (the run's folder and
        environment), its output into the run's log; the failure message, or None."""
        command = spec.job_preparation
        if not command:
            return None
        self._log_line(f"[job preparation{label}] $ {command}")
        proc = subprocess.Popen(["bash", "-c", command], cwd=self.run_dir, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.proc = proc                      # a cancel or a lost node stops it too
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            self._log_line(f"[job preparation{label}] {line}")
        code = proc.wait()
        self.proc = None
        if code != 0:
            return f"job_preparation {command!r} exited with code {code}{label}"
        return None

    @property
    def checkpoint_dir(self) -> Path:
        return self.run_dir / "outputs" / "checkpoints"

    def _restore_checkpoints(self) -> None:
        """Put the files an earlier attempt saved under its checkpoint folder back, so a
        requeued (preempted) run resumes instead of starting over."""
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        if (self.attempt or 1) <= 1:
            return                   # a first attempt: no earlier one saved anything
        saved = self.store.list_artifacts(self.run_id, prefix=CHECKPOINTS + "/")
        if not saved:
            return
        from cumulus.datastores import Datastore

        for art in saved:
            target = self.run_dir / art["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            ds = Datastore.get(self.ws, art["datastore"])
            ds.fs.get(ds.full_path(art["location"]), str(target))
        self._log_line(f"[cumulus] restored {len(saved)} checkpoint file(s) into "
                       f"$CUMULUS_CHECKPOINT_DIR from the earlier attempt")

    def _log_line(self, text: str) -> None:
        self.store.append_log(self.run_id, text if text.endswith("\n") else text + "\n")
        publish_event(self.topic, self.run_id, "log")

    # running -----------------------------------------------------------------------------
    def _run_process(self, argv: list[str], env: dict[str, str],
                     spec: ScriptSpec) -> tuple[int | None, str]:
        out = LogFile(self.run_dir / "logs" / "std_log.txt")
        try:
            self.proc = subprocess.Popen(argv, cwd=self.run_dir, env=env,
                                         stdin=subprocess.DEVNULL, stdout=out.fd,
                                         stderr=out.fd, start_new_session=True)
        finally:
            out.close()
        self.started_at = datetime.now(timezone.utc)
        guard = node_guard()          # the script's group dies with this node
        guard.watch(self.proc.pid, self.death_signal)
        self.cleanup.append(lambda pid=self.proc.pid: guard.release(pid))
        exit_watch = ExitWatch(self.proc)
        ingest = Ingestor(self.ws, self.run_id, str(self.control_dir), self.attempt or 1)
        self.ingest = ingest
        limit = spec.max_run_duration_seconds
        started = time.monotonic()
        now = time.monotonic()   # the claim (or Running) was the first heartbeat
        # Running is recorded (if it is not yet) and announced once the script has run for a
        # moment: a run that ends sooner records it with its end, and announces only its end
        # (each event costs ~0.7 ms of CPU on node, scheduler and client; a transaction more)
        announce_at: float | None = started + ANNOUNCE_RUNNING_AFTER
        timers = {"log": 0.0, "cancel": now, "beat": now, "logs": now}
        synced: dict[str, tuple[int, int]] = {}
        outcome = "exited"
        heard = cancel_board().watch(self.run_id)   # a cancel pushed to this worker
        if heard is not None:
            self.cleanup.append(heard.close)
        while self.proc.poll() is None:
            now = time.monotonic()
            if announce_at is not None and now >= announce_at:
                announce_at = None
                if not self._mark_running():   # a cancel (or a later attempt) came first
                    outcome = self._stop_wanted() or "canceled"
                    self._kill()
                    break
                publish_event(self.topic, self.run_id, "status")
            if now - timers["log"] >= LOG_FLUSH:
                text = out.take()
                if text:
                    self.store.append_log(self.run_id, text)
                    publish_event(self.topic, self.run_id, "log")
                if ingest.poll():
                    publish_event(self.topic, self.run_id, "metrics")
                timers["log"] = now
            if now - timers["cancel"] >= CANCEL_CHECK or (heard and heard.wait(0)):
                timers["cancel"] = now
                stop = self._stop_wanted()
                if stop:               # canceled, or a later attempt has the run
                    outcome = stop
                    self._kill()
                    break
            if limit and now - started > float(limit):
                outcome = "timeout"
                self._kill()
                break
            if now - timers["beat"] >= HEARTBEAT:
                self.store.heartbeat(self.run_id)
                timers["beat"] = now
            if now - timers["logs"] >= LOGS_SYNC:
                self._sync_logs(synced)
                timers["logs"] = now
            exit_watch.wait(POLL)      # wakes the moment the script exits
        exit_watch.close()
        code = self.proc.wait()
        ingest.hold = True              # its last metric rows go with the final status
        wait_quiet(ingest, pause=0.0)   # the script has exited: what it wrote is all there
        self.quick_finish = self._nothing_to_finalize(code, outcome)
        # the last log text and the final log upload's index entries are written with the
        # final status when that is one transaction (see _finalize), else by _flush_tail
        self.tail = ("".join(out.drain()), [])
        self._sync_logs(synced, unindexed=self.tail[1], final=True)
        if self.quick_finish:     # one write left: the next run may come to this node now
            give_back_room(self.task_key)
        return code, outcome

    def _sync_logs(self, synced: dict[str, tuple[int, int]],
                   unindexed: list[dict[str, Any]] | None = None, *,
                   final: bool = False) -> None:
        """Upload new or changed files of ./logs and of the checkpoint folder (so that a
        node lost without notice leaves its latest checkpoint behind); ``final`` once the
        script has exited (see ``upload_run_dir``)."""
        from cumulus.tasks.artifacts import upload_run_dir

        upload_run_dir(self.ws, self.run_id, self.run_dir / "logs", "logs", synced, unindexed,
                       final=final)
        upload_run_dir(self.ws, self.run_id, self.checkpoint_dir, CHECKPOINTS, synced,
                       unindexed, final=final)

    def _flush_tail(self) -> None:
        """Write what the process left (its last metric rows, its last log text, the final
        log upload's index)."""
        ingest = getattr(self, "ingest", None)
        if ingest is not None:
            ingest.hold = False
            ingest.flush_held()
        (text, artifacts), self.tail = self.tail, ("", [])
        self.store.append_log(self.run_id, text)
        self.store.add_artifacts(self.run_id, artifacts)

    def _stop_wanted(self) -> str:
        """``"canceled"`` when a cancel was requested, ``"superseded"`` when a later attempt
        has the run (this node was taken for lost, the run started again elsewhere), else
        ``""``."""
        status, attempt = self.store.get_status_and_attempt(self.run_id)
        if self.attempt is not None and attempt != self.attempt:
            return "superseded"
        return "canceled" if status == RunStatus.CANCEL_REQUESTED.value else ""

    def _kill(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(KILL_GRACE)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        except ProcessLookupError:
            pass
        try:  # the group may outlive its leader
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    # finalizing --------------------------------------------------------------------------
    def _finalize(self, code: int | None, outcome: str) -> str:
        from cumulus.tasks.artifacts import upload_run_dir

        if self.quick_finish:   # one transaction, every event (Running too, if not yet)
            text, artifacts = self.tail
            hops = [RunStatus.FINALIZING] if self.running else \
                [RunStatus.RUNNING, RunStatus.FINALIZING]
            if self._move(
                    RunStatus.COMPLETED, exit_code=code, reason="script exited 0",
                    via=hops, expected=[RunStatus.RUNNING if self.running else RunStatus.PREPARING],
                    log=text, artifacts=artifacts, metrics=self.ingest.held,
                    **({} if self.running else {"start_time": self.started_at})):
                self.tail = ("", [])
                self.ingest.take_held()     # written with it
                return RunStatus.COMPLETED.value
        if outcome == "superseded":    # the later attempt's record: this one adds nothing
            self._log_line(f"[cumulus] attempt {self.attempt} stopped on this node: a later "
                           f"attempt has the run")
            return self.store.get_status(self.run_id)
        self._flush_tail()
        if outcome == "canceled":
            self._upload_quietly()
            return self._finish_canceled()
        if not self._mark_running() or not self._move(
                RunStatus.FINALIZING, expected=[RunStatus.RUNNING],
                exit_code=code):
            return self._finish_canceled()
        upload_run_dir(self.ws, self.run_id, self.run_dir / "outputs", "outputs",
                       final=outcome == "exited")
        if outcome == "timeout":
            self.data.finalize(success=False)
            self.ingest.close_children("Failed")
            return self._fail("the run exceeded max_run_duration_seconds and was stopped",
                              code=code)
        if code != 0:
            self.data.finalize(success=False)
            self.ingest.close_children("Failed")
            return self._fail(f"the script exited with code {code}", code=code)
        self.data.finalize(success=True)
        self.ingest.close_children("Completed")
        if not self._move(RunStatus.COMPLETED, reason="script exited 0",
                          expected=[RunStatus.FINALIZING]):
            # canceled while its outputs were uploading: the script succeeded and its outputs
            # are kept, but the cancel wins (never Failed)
            self._move(RunStatus.CANCELED, expected=[RunStatus.CANCEL_REQUESTED],
                       reason="cancel requested while finalizing; the script had succeeded "
                              "and its outputs were committed")
            return self.store.get_status(self.run_id)
        return RunStatus.COMPLETED.value

    def _nothing_to_finalize(self, code: int | None, outcome: str) -> bool:
        """A clean exit with no outputs, output datasets or child runs to close."""
        if code != 0 or outcome != "exited" or self.data.outputs or self.ingest.has_children():
            return False
        return not any(files for _, _, files in os.walk(self.run_dir / "outputs"))

    def _upload_quietly(self) -> None:
        from cumulus.tasks.artifacts import upload_run_dir

        try:
            upload_run_dir(self.ws, self.run_id, self.run_dir / "outputs", "outputs")
        except Exception:
            pass

    def _finish_canceled(self) -> str:
        if hasattr(self, "ingest"):
            self.ingest.close_children("Canceled")
        self._move(RunStatus.CANCELED, expected=[RunStatus.CANCEL_REQUESTED],
                   reason="cancel requested")
        return self.store.get_status(self.run_id)

    def _fail(self, message: str, *, code: int | None = None, tb: str | None = None) -> str:
        error = {"message": message}
        if tb:
            error["traceback"] = tb
            self._log_line(f"[cumulus] run failed: {message}")
        fields: dict[str, Any] = {"error": error}
        if code is not None:
            fields["exit_code"] = code
        if self._stop_wanted() == "canceled":  # the user asked to stop it: the cancel wins
            self._move(RunStatus.CANCELED, reason=f"cancel requested; then {message}",
                       **fields)
            return self.store.get_status(self.run_id)
        if not self._move(RunStatus.FAILED, reason=message, **fields):
            return self.store.get_status(self.run_id)
        return RunStatus.FAILED.value


def nothing_to_prepare(rec: dict[str, Any]) -> bool:
    """Whether a run's first attempt needs nothing before its script starts: no environment
    to build or image to pull, no data path to mount or download, no ``job_preparation``."""
    from cumulus.datastores._runtime import has_data_paths
    from cumulus.environment import Environment

    definition = rec.get("definition") or {}
    if int(rec.get("attempt") or 1) > 1 or definition.get("job_preparation") or \
            has_data_paths(definition):
        return False
    environment = definition.get("environment")
    return not environment or Environment.from_dict(environment).is_default


_experiments: dict[tuple[str, int], str] = {}   # (store, experiment id) -> name (immutable)


def _experiment_name(store: Any, experiment_id: int) -> str:
    key = (str(store.url), int(experiment_id))
    if key not in _experiments:
        _experiments[key] = store.experiment_name(experiment_id)
    return _experiments[key]


def children_topic(parent_id: str) -> str:
    """The Dask event topic on which the runs of parent ``parent_id`` announce their end."""
    return f"cumulus-children-{parent_id}"


def event_topic_of(rec: dict[str, Any]) -> str | None:
    """Where a run announces metric writes and its end: the topic its definition names (a
    sweep's trials), else its parent's children topic (a pipeline's steps), else nowhere."""
    topic = (rec.get("definition") or {}).get("event_topic")
    if topic:
        return str(topic)
    parent = rec.get("parent_id")
    return children_topic(str(parent)) if parent else None


def package_path() -> str:
    """A folder holding only the ``cumulus`` package, for the script's PYTHONPATH.

    Putting the package's parent on the path would expose all of site-packages (in a regular
    install) ahead of a run environment's own pins; a folder with one symlink exposes nothing else.
    """
    from cumulus._install import install_cache_dir

    folder = install_cache_dir() / "pylib"  # per installation: never re-pointed elsewhere
    link = folder / "cumulus"
    target = Path(PACKAGE_ROOT) / "cumulus"
    try:
        made = os.readlink(link) == str(target)    # as made below (one call per run)
    except OSError:
        made = False
    if not made:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".cumulus.{os.getpid()}"
        try:
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(target, target_is_directory=True)
            tmp.replace(link)
        except OSError:
            return PACKAGE_ROOT
    return str(folder)


def _env_name(name: str) -> str:
    return "".join(c.upper() if c.isalnum() else "_" for c in name.lstrip("-"))


def _node_name() -> str:
    """The Dask worker (node) this run executes on; '' outside a worker."""
    try:
        from distributed import get_worker

        return str(get_worker().name)
    except Exception:
        return ""
