"""What a batch-scoring worker and the final merge do (on a node).

Mini-batches are a pure function of the input listing (:func:`plan`), so every worker and the
merge agree on them without talking. Worker ``k`` of ``n`` scores mini-batches ``k, k+n, ...``;
each result lands on the datastore as ``<output>/_batch/parts/<index>.txt`` (written to a
temporary name, then moved), which is the mini-batch's done-marker: a rerun after a crash or a
preemption skips it, so the merged output holds each input exactly once.
"""

from __future__ import annotations

import importlib.util
import json
import os
import posixpath
import signal
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cumulus.batch._config import parse_mini_batch_size

STATE = "_batch"


def plan(files: Sequence[tuple[str, int]], mini_batch_size: Any) -> list[list[str]]:
    """Mini-batches (lists of relative paths) of ``files`` ((path, size), sorted by path)."""
    kind, limit = parse_mini_batch_size(mini_batch_size)
    batches: list[list[str]] = []
    current: list[str] = []
    used = 0
    for rel, size in sorted(files):
        weight = 1 if kind == "files" else max(int(size), 1)
        if current and used + weight > limit:
            batches.append(current)
            current, used = [], 0
        current.append(rel)
        used += weight
    if current:
        batches.append(current)
    return batches


def local_files(root: Path) -> list[tuple[str, int]]:
    if root.is_file():
        return [(root.name, root.stat().st_size)]
    return sorted((p.relative_to(root).as_posix(), p.stat().st_size)
                  for p in root.rglob("*") if p.is_file())


def _load_entry(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"cumulus_batch_entry_{os.getpid()}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    spec.loader.exec_module(module)
    return module


def _rows(result: Any, count: int) -> list[str]:
    """A run() result as output lines: a list (one item per input) or a DataFrame."""
    if hasattr(result, "to_csv") and hasattr(result, "columns"):
        text = result.to_csv(header=False, index=False, sep=" ")
        return [line for line in text.splitlines() if line]
    if isinstance(result, (list, tuple)):
        return [x if isinstance(x, str) else json.dumps(x, default=str) for x in result]
    raise TypeError(f"run() returned {type(result).__name__}; return a list (one item per "
                    f"input of the mini-batch, {count} here) or a pandas DataFrame")


class _Timeout(Exception):
    pass


def _call(fn: Callable[[list[str]], Any], batch: list[str], timeout: float) -> Any:
    def alarm(*_: Any) -> None:
        raise _Timeout(f"run() did not return within run_invocation_timeout={timeout:g} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return fn(batch)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _write(ds: Any, path: str, text: str) -> None:
    target = ds.full_path(path)
    tmp = f"{target}.{os.getpid()}.tmp"
    with ds.fs.open(tmp, "w") as fh:
        fh.write(text)
    ds.fs.mv(tmp, target)


def input_files(ws: Any, inputs: dict[str, Any],
                ) -> tuple[Any, dict[str, str], list[tuple[str, int]]]:
    """The input datastore, relative name -> datastore path, and (relative name, size) of
    every input file (the listing every worker and the merge plan from)."""
    from cumulus.datastores import Datastore

    src = Datastore.get(ws, inputs["datastore"])
    prefix = inputs["path_on_datastore"].rstrip("/")
    where: dict[str, str] = {}
    files = []
    for rel, st in src.list_files(inputs["path_on_datastore"]).items():
        name = posixpath.relpath(rel, prefix) if prefix and rel != prefix \
            else posixpath.basename(rel)
        where[name] = rel
        files.append((name, int(st.size)))
    return src, where, files


def _fetch(src: Any, paths: list[str], scratch: Path) -> list[str]:
    """Local paths of one mini-batch's inputs: the files themselves on a local datastore,
    else one batched download of just these files into ``scratch``."""
    from fsspec.implementations.local import LocalFileSystem

    full = [src.full_path(p) for p in paths]
    if isinstance(src.fs, LocalFileSystem):
        return full
    local = [str(scratch / p) for p in paths]
    for target in local:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
    src.fs.get(full, local)
    return local


def score_share(ws: Any, config: dict[str, Any], inputs: dict[str, Any],
                output: dict[str, str], worker: int, workers: int,
                log: Callable[[str], None] = print,
                listing: tuple[Any, dict[str, str], list[tuple[str, int]]] | None = None,
                ) -> dict[str, Any]:
    """Score this worker's share of the mini-batches, reading only its own inputs from the
    datastore; returns counts. ``listing`` is :func:`input_files`'s result when the caller
    already has it."""
    import shutil
    import tempfile

    from cumulus.datastores import Datastore

    ds = Datastore.get(ws, output["datastore"])
    state = posixpath.join(output["path"], STATE)
    src, where, files = listing or input_files(ws, inputs)
    batches = plan(files, config["mini_batch_size"])
    mine = list(range(worker, len(batches), workers))
    entry = _Entry(Path.cwd() / config["entry_script"])   # init() on the first mini-batch
    scratch = Path(tempfile.mkdtemp(prefix="cumulus-batch-"))
    try:
        return _score(ds, state, src, where, batches, mine, entry, config, scratch,
                      (worker, workers), log)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class _Entry:
    """The entry script, loaded and ``init()``-ed only when a mini-batch needs it (a resumed
    worker whose mini-batches are all done never pays for loading the model)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.module: Any = None

    @property
    def run(self) -> Callable[..., Any]:
        if self.module is None:
            self.module = _load_entry(self.path)
            self.module.init()
        run: Callable[..., Any] = self.module.run
        return run


def _score(ds: Any, state: str, src: Any, where: dict[str, str], batches: list[list[str]],
           mine: list[int], entry: _Entry, config: dict[str, Any], scratch: Path,
           who: tuple[int, int], log: Callable[[str], None]) -> dict[str, Any]:
    worker, workers = who
    try:
        done_parts = set(ds.list_files(posixpath.join(state, "parts")))
    except (FileNotFoundError, OSError):
        done_parts = set()
    done = skipped = failed = rows = 0
    for index in mine:
        part = posixpath.join(state, "parts", f"{index:06d}.txt")
        if part in done_parts:
            skipped += 1
            continue
        started, error = time.perf_counter(), None
        paths = _fetch(src, [where[rel] for rel in batches[index]], scratch)
        for attempt in range(1, int(config["run_max_try"]) + 1):
            try:
                lines = _rows(_call(entry.run, paths, float(config["run_invocation_timeout"])),
                              len(paths))
                break
            except Exception as exc:
                error = {"index": index, "files": batches[index], "attempt": attempt,
                         "error": f"{type(exc).__name__}: {exc}",
                         "traceback": traceback.format_exc()}
                log(f"[batch] mini-batch {index}: attempt {attempt} failed: {error['error']}")
        else:
            _write(ds, posixpath.join(state, "errors", f"{index:06d}.json"), json.dumps(error))
            failed += 1
            continue
        _write(ds, part, "".join(line + "\n" for line in lines))
        if not paths[0].startswith(src.full_path("")):   # downloaded copies: drop them
            for path in paths:
                Path(path).unlink(missing_ok=True)
        done += 1
        rows += len(lines)
        log(f"[batch] mini-batch {index + 1}/{len(batches)}: {len(paths)} input(s), "
            f"{len(lines)} row(s) in {time.perf_counter() - started:.2f} s "
            f"(worker {worker + 1}/{workers}: {done + skipped + failed}/{len(mine)})")
    log(f"[batch] worker {worker + 1}/{workers}: {done} mini-batch(es) scored, {skipped} "
        f"already done, {failed} failed")
    return {"worker": worker, "scored": done, "skipped": skipped, "failed": failed,
            "rows": rows, "mini_batches": len(batches)}


def _listed(ds: Any, folder: str) -> set[str]:
    try:
        return set(ds.list_files(folder))
    except (FileNotFoundError, OSError):
        return set()


def merge(ws: Any, config: dict[str, Any], inputs: dict[str, Any], output: dict[str, str],
          log: Callable[[str], None] = print,
          planned: tuple[int, list[list[str]]] | None = None) -> dict[str, Any]:
    """Concatenate the parts in mini-batch order into the output file; fail (keeping the
    partial output apart) when more mini-batches failed than ``error_threshold``.
    ``planned`` is (input count, mini-batches) when the caller already listed the input."""
    from cumulus.datastores import Datastore
    from cumulus.errors import CumulusError

    if planned is None:
        _, _, files = input_files(ws, inputs)
        planned = (len(files), plan(files, config["mini_batch_size"]))
    count, batches = planned
    ds = Datastore.get(ws, output["datastore"])
    state = posixpath.join(output["path"], STATE)
    parts = _listed(ds, posixpath.join(state, "parts"))
    recorded = _listed(ds, posixpath.join(state, "errors"))

    def part(index: int) -> str:
        return posixpath.join(state, "parts", f"{index:06d}.txt")

    missing = [i for i in range(len(batches)) if part(i) not in parts]
    errors = []
    for index in missing[:5]:
        err = posixpath.join(state, "errors", f"{index:06d}.json")
        if err in recorded:
            with ds.fs.open(ds.full_path(err), "r") as fh:
                errors.append(json.loads(fh.read()))
    threshold = int(config["error_threshold"])
    over = threshold >= 0 and len(missing) > threshold
    name = config["append_row_file_name"]
    target = posixpath.join(output["path"], name if not over else f"{STATE}/partial_{name}")
    rows = 0
    if config["output_action"] == "append_row":
        gone = set(missing)
        paths = [ds.full_path(part(i)) for i in range(len(batches)) if i not in gone]
        chunks = ds.fs.cat(paths) if paths else {}
        text = "".join(chunks[p].decode() for p in paths)
        rows = text.count("\n")
        _write(ds, target, text)
    summary = {"mini_batches": len(batches), "inputs": count, "rows": rows,
               "failed_mini_batches": len(missing), "output": f"{output['datastore']}:{target}"}
    _write(ds, posixpath.join(output["path"], f"{STATE}/summary.json"), json.dumps(summary))
    log(f"[batch] merged {len(batches) - len(missing)}/{len(batches)} mini-batch(es), {rows} "
        f"row(s) into {output['datastore']}:{target}")
    if over:
        worst = "; ".join(f"mini-batch {e['index']} ({', '.join(e['files'][:3])}): "
                          f"{e['error']}" for e in errors[:5])
        raise CumulusError(f"{len(missing)} mini-batch(es) failed, more than error_threshold="
                           f"{threshold}. {worst}. The partial output is kept apart at "
                           f"{output['datastore']}:{target}.")
    return summary


__all__ = ["STATE", "input_files", "local_files", "merge", "plan", "score_share"]
