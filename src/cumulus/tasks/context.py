"""The run as seen from inside a script: ``Run.get_context()``.

Standard library only, so a script running in any interpreter (a per-run virtualenv, a
container) can log metrics with ``cumulus`` on its PYTHONPATH and nothing else installed.
Metrics are buffered and appended to a control file that the executor on the node tails into
the store in batches: logging in a tight loop is cheap, and everything logged before a normal
exit is flushed at exit.

Example::

    run = Run.get_context()
    for epoch in range(10):
        run.log("loss", 1 / (epoch + 1))
    run.log_table("confusion", {"label": [0, 1], "count": [5, 7]})
"""

from __future__ import annotations

import atexit
import json
import math
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from cumulus.errors import ValidationError

FLUSH_INTERVAL = 0.25
FLUSH_SIZE = 20000


def _plain(value: Any) -> Any:
    """numpy and other scalar-likes to plain Python."""
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        return value.item()
    return value


def encode_scalar(name: str, value: Any) -> tuple[str, float | None, str | None]:
    """(kind, numeric value, JSON data) for one scalar metric, or a ValidationError."""
    if not isinstance(name, str) or not name:
        raise ValidationError(f"Metric name must be a non-empty string, got {name!r}.")
    value = _plain(value)
    if isinstance(value, bool):
        return "scalar", float(value), json.dumps(value)
    if isinstance(value, int):
        return "int", float(value), None
    if isinstance(value, float):
        return "scalar", value, None if math.isfinite(value) else json.dumps(str(value))
    if isinstance(value, str):
        return "scalar", None, json.dumps(value)
    raise ValidationError(
        f"Metric {name!r} got a {type(value).__name__} ({value!r:.80}); a metric value must be "
        "a number, a bool or a string. Use log_list for sequences, log_row/log_table for rows "
        "and tables, log_image for plots.")


def _check_column(name: str, col: str, values: Any) -> list[Any]:
    if isinstance(values, str | bytes) or not hasattr(values, "__iter__"):
        raise ValidationError(f"Table {name!r} column {col!r} must be a list, got "
                              f"{type(values).__name__}.")
    out = [_plain(v) for v in values]
    for v in out:
        if not isinstance(v, int | float | str | bool) and v is not None:
            raise ValidationError(f"Table {name!r} column {col!r} holds a "
                                  f"{type(v).__name__}; cells must be numbers, bools or strings.")
    return out


class RunContext:
    """Logging API shared by the executed run, its child runs and the offline run."""

    id: str = "offline"

    def __init__(self, sink: _Sink, run_id: str | None) -> None:
        self._sink = sink
        self._run = run_id  # None = the executed run itself
        self._steps: dict[str, int] = {}

    def _next_step(self, name: str, step: int | None) -> int:
        if step is None:
            step = self._steps.get(name, 0)
        elif not isinstance(step, int) or isinstance(step, bool):
            raise ValidationError(f"Metric {name!r}: step must be an int, got {step!r}.")
        self._steps[name] = step + 1
        return step

    def log(self, name: str, value: Any, step: int | None = None,
            description: str = "") -> None:
        t = type(value)
        if t is float and type(name) is str and name and math.isfinite(value):
            kind, num, data = "scalar", value, None  # hot path: plain floats and ints
        elif t is int and type(name) is str and name:
            kind, num, data = "int", float(value), None
        else:
            kind, num, data = encode_scalar(name, value)
        if step is None:
            step = self._steps.get(name, 0)
            self._steps[name] = step + 1
        else:
            step = self._next_step(name, step)
        self._sink.metric(self._run, name, kind, step, num, data)

    def log_list(self, name: str, values: Sequence[Any], description: str = "") -> None:
        vals = _check_column(name, "values", values)
        self._sink.metric(self._run, name, "list", self._next_step(name, None), None,
                          json.dumps(vals))

    def log_row(self, name: str, description: str = "", **cols: Any) -> None:
        if not cols:
            raise ValidationError(f"log_row({name!r}) needs at least one column=value.")
        row = {k: _plain(v) for k, v in cols.items()}
        for k, v in row.items():
            encode_scalar(f"{name}.{k}", v)
        self._sink.metric(self._run, name, "row", self._next_step(name, None), None,
                          json.dumps(row))

    def log_table(self, name: str, value: dict[str, Sequence[Any]],
                  description: str = "") -> None:
        if not isinstance(value, dict) or not value:
            raise ValidationError(f"log_table({name!r}) needs a dict of column -> list, got "
                                  f"{type(value).__name__}.")
        table = {str(k): _check_column(name, str(k), v) for k, v in value.items()}
        lengths = {len(v) for v in table.values()}
        if len(lengths) > 1:
            raise ValidationError(f"Table {name!r} columns differ in length: "
                                  f"{ {k: len(v) for k, v in table.items()} }.")
        self._sink.metric(self._run, name, "table", self._next_step(name, None), None,
                          json.dumps(table))

    def log_image(self, name: str, path: str | None = None, plot: Any = None,
                  description: str = "") -> None:
        if (path is None) == (plot is None):
            raise ValidationError(f"log_image({name!r}) needs exactly one of path= or plot=.")
        step = self._next_step(name, None)
        artifact = f"images/{name}_{step}.png" if plot is not None else \
            f"images/{name}_{step}{os.path.splitext(str(path))[1] or '.png'}"
        if plot is not None:
            tmp = os.path.join(self._sink.scratch(), f"{uuid.uuid4().hex}.png")
            plot.savefig(tmp, format="png")
            path = tmp
        elif not os.path.isfile(str(path)):
            raise ValidationError(f"log_image({name!r}): file {path!r} does not exist.")
        self._sink.upload(self._run, artifact, str(path))
        self._sink.metric(self._run, name, "image", step, None,
                          json.dumps({"artifact": artifact}))

    def upload_file(self, name: str, path_or_stream: str) -> None:
        parts = str(name).replace("\\", "/").split("/")
        if not isinstance(name, str) or not name.strip("/") or name.startswith("/") or \
                ".." in parts or "\x00" in name:
            raise ValidationError(f"upload_file({name!r}): the name must be a relative path "
                                  "inside the run's files without '..', e.g. 'outputs/plot.png'.")
        if not os.path.isfile(str(path_or_stream)):
            raise ValidationError(f"upload_file({name!r}): {path_or_stream!r} is not a file.")
        self._sink.upload(self._run, name, str(path_or_stream))

    def tag(self, key: str, value: Any = None) -> None:
        self._sink.op({"op": "tag", "r": self._run, "k": str(key), "v": _plain(value)})

    def set_tags(self, tags: dict[str, Any]) -> None:
        for k, v in tags.items():
            self.tag(k, v)

    def add_properties(self, properties: dict[str, Any]) -> None:
        self._sink.op({"op": "prop", "r": self._run,
                       "v": {str(k): _plain(v) for k, v in properties.items()}})

    @contextmanager
    def child_run(self, name: str | None = None) -> Iterator[RunContext]:
        """A nested run; Completed when the block exits, Failed if it raises."""
        child_id = self._sink.new_child(self._run, name)
        child = RunContext(self._sink, child_id)
        child.id = child_id
        try:
            yield child
        except BaseException:
            self._sink.op({"op": "end", "r": child_id, "status": "Failed"})
            raise
        self._sink.op({"op": "end", "r": child_id, "status": "Completed"})

    def flush(self) -> None:
        self._sink.flush()

    def complete(self) -> None:
        self.flush()


class _Sink:
    """Where a context's events go."""

    def metric(self, run: str | None, name: str, kind: str, step: int, value: float | None,
               data: str | None) -> None:
        raise NotImplementedError

    def op(self, event: dict[str, Any]) -> None:
        raise NotImplementedError

    def upload(self, run: str | None, name: str, path: str) -> None:
        raise NotImplementedError

    def new_child(self, parent: str | None, name: str | None) -> str:
        return f"{uuid.uuid4().hex[:12]}"

    def flush(self) -> None:
        pass

    def scratch(self) -> str:
        import tempfile

        return tempfile.gettempdir()


class _FileSink(_Sink):
    """Buffers events and appends them as JSON lines to the executor's control file."""

    def __init__(self, control_dir: str, run_id: str) -> None:
        self.dir = control_dir
        self.run_id = run_id
        self.path = os.path.join(control_dir, "events.jsonl")
        self._buf: list[str] = []
        self._lock = threading.Lock()
        self._last = time.monotonic()
        self._counter = 0
        self._heads: dict[tuple[str, str], str] = {}
        self._made = False
        atexit.register(self.flush)

    def metric(self, run: str | None, name: str, kind: str, step: int, value: float | None,
               data: str | None) -> None:
        if run is None and data is None and value is not None:
            head = self._heads.get((name, kind))
            if head is None:
                head = self._heads[(name, kind)] = f"[null,{json.dumps(name)},\"{kind}\","
            self._buf.append(f"{head}{step},{value!r},null,{time.time()!r}]")
        else:
            self._buf.append(json.dumps([run, name, kind, step, value, data, time.time()]))
        if len(self._buf) >= FLUSH_SIZE or time.monotonic() - self._last > FLUSH_INTERVAL:
            self.flush()

    def op(self, event: dict[str, Any]) -> None:
        self._buf.append(json.dumps(event))
        self.flush()

    def upload(self, run: str | None, name: str, path: str) -> None:
        staged = os.path.join(self.dir, "uploads", uuid.uuid4().hex)
        os.makedirs(os.path.dirname(staged), exist_ok=True)
        shutil.copyfile(path, staged)
        self.op({"op": "upload", "r": run, "name": name, "path": staged})

    def new_child(self, parent: str | None, name: str | None) -> str:
        self._counter += 1
        child = f"{self.run_id}_{self._counter}"
        self.op({"op": "child", "r": child, "parent": parent, "name": name})
        return child

    def flush(self) -> None:
        with self._lock:
            if not self._buf:
                return
            lines, self._buf = self._buf, []
            if not self._made:           # the first write: the executor leaves it to us
                os.makedirs(self.dir, exist_ok=True)
                self._made = True
            with open(self.path, "a") as fh:
                fh.write("\n".join(lines) + "\n")
            self._last = time.monotonic()

    def scratch(self) -> str:
        os.makedirs(self.dir, exist_ok=True)
        return self.dir


class _PrintSink(_Sink):
    """Offline: the script was not started by Cumulus, so metrics are printed."""

    def metric(self, run: str | None, name: str, kind: str, step: int, value: float | None,
               data: str | None) -> None:
        shown = data if data is not None else value
        print(f"[offline run{'/' + run if run else ''}] {name} = {shown} (step {step})")

    def op(self, event: dict[str, Any]) -> None:
        if event["op"] == "tag":
            print(f"[offline run] tag {event['k']} = {event['v']}")

    def upload(self, run: str | None, name: str, path: str) -> None:
        print(f"[offline run] would upload {path} as {name}")

    def new_child(self, parent: str | None, name: str | None) -> str:
        return f"offline_child_{uuid.uuid4().hex[:6]}"


_context: RunContext | None = None


def get_context() -> RunContext:
    """The executed run (set up by the executor's environment) or an offline run."""
    global _context
    if _context is None:
        run_id = os.environ.get("CUMULUS_RUN_ID")
        control = os.environ.get("CUMULUS_CONTROL_DIR")
        # the control folder is made at the first write; its run's folder exists already
        if run_id and control and os.path.isdir(os.path.dirname(control.rstrip(os.sep))):
            _context = RunContext(_FileSink(control, run_id), None)
            _context.id = run_id
        else:
            _context = RunContext(_PrintSink(), None)
    return _context
