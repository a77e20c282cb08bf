"""Run: one execution, followed through the store from any process.

Example::

    run = exp.submit(src)
    run.wait_for_completion(show_output=True)
    print(run.get_metrics())
    run.download_file("outputs/model.pkl")

Inside a script, ``Run.get_context()`` gives the run being executed (or an offline run that
prints when the script was not started by Cumulus).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from cumulus.experiment import Experiment
    from cumulus.tasks.context import RunContext

_TERMINAL = ("Completed", "Failed", "Canceled")
REVIVE_AFTER = 15.0  # seconds between a waiting client's checks that the run's manager lives


class Run:
    """A run recorded in the store: status, metrics, files, children, tags."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Run:
        """``Run(exp, id)`` gives the class that fits the run: a sweep's run comes back as a
        SweepRun, a pipeline's as a PipelineRun (see :data:`RUN_CLASSES`)."""
        if not cls.__dict__.get("_by_record", cls is Run) or len(args) < 2:
            return super().__new__(cls)
        experiment, run_id = args[0], args[1]
        record = kwargs.get("_record")
        if record is None:
            record = experiment.workspace.store.get_run(run_id)
        target = run_class(record)
        obj = super().__new__(cls if target is Run else target)
        obj._record = record
        if not isinstance(obj, cls):  # Python calls __init__ only on instances of cls
            type(obj).__init__(obj, *args, **kwargs)
        return obj

    def __init__(self, experiment: Experiment, run_id: str, *,
                 _record: dict[str, Any] | None = None) -> None:
        self.experiment = experiment
        self.id = run_id
        if _record is None:
            _record = self.__dict__.get("_record") or self._store.get_run(run_id)
        self._record = _record

    # script side -------------------------------------------------------------------------
    @staticmethod
    def get_context() -> RunContext:
        """The run executing this script, or an offline run that prints metrics."""
        from cumulus.tasks.context import get_context

        return get_context()

    # plumbing ----------------------------------------------------------------------------
    @property
    def _store(self):
        return self.experiment.workspace.store

    @property
    def workspace(self):
        return self.experiment.workspace

    def _refresh(self) -> dict[str, Any]:
        self._record = self._store.get_run(self.id)
        return self._record

    @classmethod
    def _get(cls, ws: Any, run_id: str) -> Run:
        """Any run of the workspace by id, whatever its experiment."""
        from cumulus.experiment import Experiment

        rec = ws.store.get_run(run_id)
        name = ws.store.experiment_name(rec["experiment_id"])
        return cls(Experiment(ws, name), run_id, _record=rec)

    # status ------------------------------------------------------------------------------
    @property
    def status(self) -> str:
        return self.get_status()

    def get_status(self) -> str:
        return str(self._store.get_status(self.id))

    @property
    def kind(self) -> str:
        return str(self._record["kind"])

    @property
    def display_name(self) -> str | None:
        return self._record.get("display_name")

    @property
    def parent(self) -> Run | None:
        pid = self._record.get("parent_id")
        return Run(self.experiment, pid) if pid else None

    def get_details(self) -> dict[str, Any]:
        rec = self._refresh()
        definition = rec.get("definition") or {}
        return {
            "runId": rec["id"], "experiment": self.experiment.name, "kind": rec["kind"],
            "displayName": rec.get("display_name"), "status": rec["status"],
            "parentRunId": rec.get("parent_id"), "target": rec.get("compute_target"),
            "node": rec.get("node"), "attempt": rec.get("attempt"),
            "createdUtc": _iso(rec["created_at"]), "startTimeUtc": _iso(rec.get("start_time")),
            "endTimeUtc": _iso(rec.get("end_time")), "exitCode": rec.get("exit_code"),
            "script": definition.get("script"), "arguments": definition.get("arguments"),
            "params": rec.get("params") or {}, "tags": rec.get("tags") or {},
            "properties": rec.get("properties") or {}, "error": rec.get("error"),
            "statusHistory": [
                {"status": e["to_status"], "time": _iso(e["time"]), "reason": e["reason"]}
                for e in self._store.status_events(self.id)],
            "runDefinition": {
                "script": definition.get("script"), "arguments": definition.get("arguments"),
                "target": rec.get("compute_target"),
                "environment": definition.get("environment"),
                "distribution": definition.get("distribution"),
                "maxRunDurationSeconds": definition.get("max_run_duration_seconds"),
                "environmentVariables": definition.get("environment_variables") or {}},
            "logFiles": {"logs/run.log": f"cumulus runs logs {rec['id']}"},
        }

    @property
    def name(self) -> str:
        """The display name (the script, step or sweep name), else the id."""
        return self._record.get("display_name") or self.id

    @classmethod
    def get(cls, workspace: Any, run_id: str) -> Run:
        """Any run of ``workspace`` by id (as its own class: a sweep as a SweepRun...)."""
        return cls._get(workspace, run_id)

    def get_detailed_status(self) -> dict[str, Any]:
        rec = self._refresh()
        return {"status": rec["status"], "details": (rec.get("error") or {}).get("message")}

    def get_all_logs(self, destination: str | os.PathLike[str] | None = None) -> list[str]:
        """Write the run's log to ``destination/logs/run.log``; returns the file paths."""
        target = Path(destination or ".") / "logs" / "run.log"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.get_log())
        return [str(target)]

    def get_portal_url(self) -> str:
        """Where the run is shown in ``cumulus ui`` (started separately; its address comes
        from ``CUMULUS_UI_URL``, default ``http://127.0.0.1:8765``)."""
        return portal_url(f"runs/{self.id}")

    # waiting and logs --------------------------------------------------------------------
    def wait_for_completion(self, show_output: bool = False, *, raise_on_error: bool = True,
                            timeout: float | None = None,
                            stream: TextIO | None = None, timeout_seconds: float | None = None,
                            wait_post_processing: bool = False) -> dict[str, Any]:
        """Block until the run ends; with ``show_output`` stream its log live as it is written.

        With ``raise_on_error`` a Failed or Canceled run raises RunError carrying the exit code
        and the last log lines.
        """
        timeout = timeout if timeout is not None else timeout_seconds  # SDK v1 name
        out = stream or sys.stdout
        if show_output:
            out.write(f"RunId: {self.id}\n")
        status = self._follow(out if show_output else None, timeout=timeout,
                              idle=lambda: self._revive(out if show_output else None))
        if show_output:
            out.write(f"\nRun {self.id} finished: {status}\n")
            out.flush()
        details = self.get_details()
        if raise_on_error and status != "Completed":
            self._raise(details)
        return details

    def _events_client(self) -> Any:
        """A client of the run's cluster this process already holds (events come free
        through it), or None."""
        from cumulus.compute._client import target_client

        return target_client(self.workspace.store_url, self._record.get("compute_target")
                             or self.workspace.config.default_compute)

    def _follow(self, out: TextIO | None, *, timeout: float | None = None,
                idle: Any = None, idle_every: float = REVIVE_AFTER, label: str = "Run") -> str:
        """Follow the run to its end (its log into ``out``, if given); its final status."""
        from cumulus.tasks.follow import follow

        status = ""
        definition = self._record.get("definition") or {}
        announced = (definition.get("type") or "script") == "script"   # an executor's run
        for event in follow(self._store, self.id, client=self._events_client(),
                            logs=out is not None, announced=announced,
                            timeout=timeout, idle=idle, idle_every=idle_every, label=label):
            status = event.status
            if event.kind == "log" and out is not None:
                out.write(event.text)
                out.flush()
        return status

    def _revive(self, out: TextIO | None) -> None:
        """A waiting client restarts its run's compute manager if it died (best effort)."""
        from cumulus.doctor import revive_target

        try:
            done = revive_target(self.workspace, self._record.get("compute_target"))
        except Exception as exc:  # never abort a wait over this
            done = f"could not check the run's compute target: {type(exc).__name__}: {exc}"
        if done and out is not None:
            out.write(f"[cumulus] {done}\n")
            out.flush()

    def _raise(self, details: dict[str, Any]) -> None:
        from cumulus.errors import RunError

        err = details.get("error") or {}
        tail = self.get_log_tail(20)
        code = details.get("exitCode")
        msg = f"Run {self.id} ended {details['status']}"
        if code is not None:
            msg += f" with exit code {code}"
        if err.get("message"):
            msg += f": {err['message']}"
        if tail:
            msg += "\nLast log lines:\n" + tail
        raise RunError(msg, run_id=self.id, status=details["status"], exit_code=code,
                       log_tail=tail)

    def get_log(self) -> str:
        text, _ = self._store.read_log(self.id, 0)
        return text

    def get_log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.get_log().rstrip("\n").splitlines()[-lines:])

    def stream_log(self, out: TextIO | None = None, follow: bool = True) -> str:
        """Write the log to ``out``; with ``follow`` keep writing until the run ends."""
        out = out or sys.stdout
        if follow:
            return self._follow(out)
        status = self.get_status()
        out.write(self.get_log())
        return status

    # metrics -----------------------------------------------------------------------------
    def get_metrics(self, name: str | None = None, recursive: bool = False, *,
                    attempts: str = "last") -> dict[str, Any]:
        """Metrics by name; with ``recursive`` a dict of run id -> metrics for the subtree.

        A run requeued after losing its node logs again from the start: by default only its
        last attempt's values are returned (``attempts="all"``: every attempt's, in order).
        """
        from cumulus.metrics import aggregate

        if attempts not in ("last", "all"):
            from cumulus.errors import ValidationError

            raise ValidationError(f"attempts must be 'last' or 'all', got {attempts!r}.")
        ids = [self.id]
        if recursive:
            ids += [c["id"] for c in self._store.children(self.id, recursive=True)]
        by_run: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
        for r in self._store.get_metric_rows(ids, name):
            by_run[r["run_id"]].append(r)
        if attempts == "last":
            for rid, rows in by_run.items():
                last = max((int(r.get("attempt") or 1) for r in rows), default=1)
                by_run[rid] = [r for r in rows if int(r.get("attempt") or 1) == last]
        if recursive:
            return {rid: aggregate(rs) for rid, rs in by_run.items()}
        return aggregate(by_run[self.id])

    def log(self, name: str, value: Any, step: int | None = None,
            description: str = "") -> None:
        """Log a metric from outside the script (a driver process, a pipeline)."""
        from cumulus.tasks.context import encode_scalar

        kind, num, data = encode_scalar(name, value)
        self._store.insert_metrics([{"run_id": self.id, "name": name, "kind": kind,
                                     "step": step, "value": num, "data": data,
                                     "time": time.time()}])

    # files -------------------------------------------------------------------------------
    def get_file_names(self) -> list[str]:
        return [a["path"] for a in self._store.list_artifacts(self.id)]

    def _artifact(self, name: str) -> dict[str, Any]:
        from cumulus.errors import NotFoundError

        for a in self._store.list_artifacts(self.id, prefix=name):
            if a["path"] == name:
                return a
        err = NotFoundError(name, self.get_file_names(),
                            hint=f"List the files with run.get_file_names() or "
                                 f"`cumulus runs show {self.id}`.")
        err.args = (f"Run {self.id} has no file " + str(err.args[0]).split(" ", 1)[1],)
        raise err

    def download_file(self, name: str, output_file_path: str | os.PathLike[str] | None = None,
                      ) -> Path:
        from cumulus.datastores import Datastore

        art = self._artifact(name)
        target = Path(output_file_path) if output_file_path else Path(Path(name).name)
        if target.is_dir():
            target = target / Path(name).name
        target.parent.mkdir(parents=True, exist_ok=True)
        ds = Datastore.get(self.workspace, art["datastore"])
        ds.fs.get(ds.full_path(art["location"]), str(target))
        return target

    def download_files(self, prefix: str | None = None,
                       output_directory: str | os.PathLike[str] | None = None) -> list[Path]:
        out_dir = Path(output_directory or ".")
        paths = []
        for name in self.get_file_names():
            if prefix is None or name.startswith(prefix):
                paths.append(self.download_file(name, out_dir / name))
        return paths

    def upload_file(self, name: str, path_or_stream: str | os.PathLike[str]) -> None:
        from cumulus.tasks.artifacts import upload_run_file

        upload_run_file(self.workspace, self.id, name, Path(path_or_stream))

    # step outputs ----------------------------------------------------------------------------
    def get_outputs(self) -> dict[str, Any]:
        """A pipeline step run's outputs: name -> DataPath on the datastore."""
        from cumulus.datastores import DataPath

        outs = (self._refresh().get("properties") or {}).get("outputs") or {}
        return {k: DataPath.from_dict(v) for k, v in outs.items()}

    def get_output_data(self, name: str) -> OutputData:
        """Output ``name`` of this step run, to download or read (``.download(path)``)."""
        outs = self.get_outputs()
        if name not in outs:
            from cumulus.errors import NotFoundError

            raise NotFoundError(f"output {name!r} of run {self.id}", list(outs),
                                hint="Step runs of a pipeline have outputs; list them with "
                                     "run.get_outputs().")
        return OutputData(self.workspace, outs[name])

    get_port_data_reference = get_output_data

    # children, tags, cancel ----------------------------------------------------------------
    def get_children(self, recursive: bool = False) -> list[Run]:
        return [Run(self.experiment, c["id"], _record=c)
                for c in self._store.children(self.id, recursive=recursive)]

    def tag(self, key: str, value: Any = None) -> None:
        from cumulus._checks import check_tag

        check_tag(key, value)
        self._store.merge_run_dict(self.id, "tags", {key: value})

    def set_tags(self, tags: dict[str, Any]) -> None:
        from cumulus._checks import check_tags

        self._store.merge_run_dict(self.id, "tags", check_tags(tags))

    def get_tags(self) -> dict[str, Any]:
        return dict(self._refresh().get("tags") or {})

    def add_properties(self, properties: dict[str, Any]) -> None:
        self._store.merge_run_dict(self.id, "properties", dict(properties))

    def get_properties(self) -> dict[str, Any]:
        return dict(self._refresh().get("properties") or {})

    def cancel(self, reason: str = "canceled by user") -> str:
        """Cancel the run and its active children; the script's process tree is stopped."""
        from cumulus.tasks.cancel import cancel_run

        return cancel_run(self._store, self.id, reason, client=self._events_client())

    def register_model(self, model_name: str, model_path: str, **kwargs: Any) -> Any:
        """Register a file or folder this run produced (e.g. 'outputs/model.pkl')."""
        from cumulus.models import Model

        return Model._register_from_run(self, model_name, model_path, **kwargs)

    def __repr__(self) -> str:
        return (f"Run(id={self.id!r}, experiment={self.experiment.name!r}, "
                f"status={self._record.get('status')!r})")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Run) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)


class OutputData:
    """A step output on its datastore (the managed service's PortDataReference)."""

    def __init__(self, workspace: Any, path: Any) -> None:
        self.workspace, self.data_path = workspace, path

    @property
    def datastore_name(self) -> str:
        return str(self.data_path.datastore)

    @property
    def path_on_datastore(self) -> str:
        return str(self.data_path.path_on_datastore)

    def download(self, local_path: str | os.PathLike[str] = ".", overwrite: bool = False,
                 show_progress: bool = True) -> str:
        """Copy the output into ``local_path`` (keeping its datastore path); returns it."""
        from cumulus.datastores import Datastore

        ds = Datastore.get(self.workspace, self.datastore_name)
        ds.download(local_path, prefix=self.path_on_datastore, overwrite=overwrite,
                    show_progress=show_progress)
        return str(Path(local_path) / self.path_on_datastore)

    def __repr__(self) -> str:
        return f"OutputData({self.datastore_name}:{self.path_on_datastore})"


#: run kind (else the definition's ``type``) -> "module.Class" of its handle
RUN_CLASSES: dict[str, str] = {
    "sweep": "cumulus.sweeps._run.SweepRun",
    "pipeline": "cumulus.flows._pipeline.PipelineRun",
    "automl": "cumulus.automl._run.AutoMLRun",
}


def portal_url(page: str = "") -> str:
    """The address of ``page`` (``runs/<id>``, ...) in the studio (``cumulus ui``), whose base
    comes from ``CUMULUS_UI_URL`` (default ``http://127.0.0.1:8765``).

    >>> portal_url("runs/r1")      # doctest: +SKIP
    'http://127.0.0.1:8765/#/runs/r1'
    """
    import os
    from urllib.parse import quote

    base = os.environ.get("CUMULUS_UI_URL", "http://127.0.0.1:8765").rstrip("/")
    return f"{base}/#/{quote(page)}" if page else f"{base}/"


def run_class(record: dict[str, Any]) -> type[Run]:
    """The Run class for a stored run record (plain Run unless its type has its own)."""
    import importlib

    definition = record.get("definition") or {}
    kind = definition.get("type") if isinstance(definition, dict) else None
    dotted = RUN_CLASSES.get(record.get("kind") or "") or RUN_CLASSES.get(kind or "")
    if not dotted:
        return Run
    module, _, name = dotted.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return Run
    return cls if isinstance(cls, type) and issubclass(cls, Run) else Run


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
