"""Moving files between this machine and a datastore, concurrently, with progress.

One engine serves uploads, downloads and the node cache. Async filesystems (Azure, S3, ...) run
two lanes on the filesystem's event loop: many small files at once, and a few large files each
split into parallel blocks. Sync filesystems (local, memory) use a thread pool. Every file is
retried on transient errors (a layer, :mod:`._retry`); downloads land in a temporary name and
are renamed, so an interrupted download never leaves a truncated file under the real name.

Example::

    result = upload(ds, [("data/a.csv", "raw/a.csv")], overwrite=False, show_progress=True)
    print(result)      # uploaded 1 file (12.0 kB) in 0.1 s
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import posixpath
import time
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cumulus.datastores._backends import FileStat
from cumulus.datastores._progress import TransferProgress
from cumulus.datastores._retry import aretry, retry
from cumulus.errors import DatastoreError, ValidationError

if TYPE_CHECKING:
    from cumulus.datastores._datastore import Datastore

logger = logging.getLogger("cumulus.datastores")

SMALL_WORKERS = 32   # small files in flight at once on async stores
LARGE_WORKERS = 2    # large files in flight at once (each in parallel blocks)
THREADS = 8          # workers for sync filesystems
EXISTS_PROBES = 16   # up to this many targets: check each; more: list their common folder
STAGING_DIR = ".cumulus-staging"
COMMITTING = ".cumulus-committing"
MANIFEST = ".cumulus-manifest.json"


@dataclass(frozen=True)
class Job:
    """One file to move: ``src`` and ``dst`` paths, ``rel`` its name in the result."""

    src: str
    dst: str
    rel: str
    size: int


@dataclass
class TransferResult:
    """What a transfer did: files moved (with ETags/MD5), files skipped, bytes, seconds."""

    direction: str
    files: list[FileStat] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    bytes: int = 0
    seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.files)

    def __str__(self) -> str:
        text = (f"{self.direction}ed {len(self.files)} file{'s' * (len(self.files) != 1)} "
                f"({human_bytes(self.bytes)}) in {self.seconds:.1f} s")
        if self.skipped:
            text += f"; skipped {len(self.skipped)} that already exist"
        return text


# the engine ------------------------------------------------------------------------------
def run_jobs(ds: Datastore, jobs: list[Job], direction: str,
             progress: TransferProgress) -> dict[str, FileStat | None]:
    """Move every job (``put`` or ``get``); returns rel -> remote stat when known."""
    if not jobs:
        return {}
    if direction == "get":
        for parent in {os.path.dirname(j.dst) for j in jobs}:
            os.makedirs(parent, exist_ok=True)
    fs = ds.fs
    if getattr(fs, "async_impl", False):
        from fsspec.asyn import sync

        results, errors = sync(fs.loop, _run_async, ds, jobs, direction, progress)
    else:
        results, errors = _run_threads(ds, jobs, direction, progress)
    if errors:
        job, exc = errors[0]
        verb = "upload" if direction == "put" else "download"
        raise DatastoreError(
            f"{len(errors)} of {len(jobs)} files failed to {verb} ({ds.name!r}); first: "
            f"{job.rel or job.src!r}: {ds.redact(ds.backend.describe_error(exc))}") from exc
    return results


def _one(ds: Datastore, job: Job, direction: str, cb: Any) -> FileStat | None:
    if direction == "put":
        return ds.backend.put(ds.fs, job.src, job.dst, job.size, cb)
    with _landing(job.dst) as tmp:
        return ds.backend.get(ds.fs, job.src, tmp, job.size, cb)


async def _aone(ds: Datastore, job: Job, direction: str, cb: Any) -> FileStat | None:
    if direction == "put":
        return await ds.backend.aput(ds.fs, job.src, job.dst, job.size, cb)
    with _landing(job.dst) as tmp:
        return await ds.backend.aget(ds.fs, job.src, tmp, job.size, cb)


@contextmanager
def _landing(dst: str) -> Iterator[str]:
    """A temporary name next to ``dst``, renamed onto it only if the block succeeds."""
    tmp = f"{dst}.cumulus-part-{uuid.uuid4().hex[:8]}"
    try:
        yield tmp
        os.replace(tmp, dst)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


async def _run_async(ds: Datastore, jobs: list[Job], direction: str, progress: TransferProgress,
                     ) -> tuple[dict[str, FileStat | None], list[tuple[Job, BaseException]]]:
    results: dict[str, FileStat | None] = {}
    errors: list[tuple[Job, BaseException]] = []
    large = ds.backend.large_file

    async def lane(queue: Iterator[Job]) -> None:
        for job in queue:  # workers share one iterator: each job is taken once
            cb = progress.callback()
            try:
                results[job.rel] = await aretry(functools.partial(_aone, ds, job, direction, cb),
                                                transient=ds.backend.is_transient)
            except Exception as exc:
                errors.append((job, exc))
            progress.file_done(cb, job.size)

    small = iter([j for j in jobs if j.size < large])
    big = iter([j for j in jobs if j.size >= large])
    n_big = sum(1 for j in jobs if j.size >= large)
    workers = [lane(small) for _ in range(min(SMALL_WORKERS, len(jobs) - n_big))]
    workers += [lane(big) for _ in range(min(LARGE_WORKERS, n_big))]
    await asyncio.gather(*workers)
    return results, errors


def _run_threads(ds: Datastore, jobs: list[Job], direction: str, progress: TransferProgress,
                 ) -> tuple[dict[str, FileStat | None], list[tuple[Job, BaseException]]]:
    results: dict[str, FileStat | None] = {}
    errors: list[tuple[Job, BaseException]] = []

    def work(job: Job) -> None:
        cb = progress.callback()
        try:
            results[job.rel] = retry(lambda: _one(ds, job, direction, cb),
                                     transient=ds.backend.is_transient)
        except Exception as exc:
            errors.append((job, exc))
        progress.file_done(cb, job.size)

    if len(jobs) == 1:
        work(jobs[0])
    else:
        with ThreadPoolExecutor(max_workers=min(THREADS, len(jobs))) as pool:
            list(pool.map(work, jobs))
    return results, errors


# upload and download ---------------------------------------------------------------------
def upload(ds: Datastore, pairs: Iterable[tuple[str, str]], *, overwrite: bool,
           show_progress: bool, description: str | None = None) -> TransferResult:
    """Upload ``(local file, datastore-relative target)`` pairs."""
    from cumulus.datastores._datastore import check_relative

    started = time.perf_counter()
    jobs = []
    for local, rel in pairs:
        rel = check_relative(rel)
        if not rel:
            raise ValidationError(f"Cannot upload {local!r} onto the datastore root itself; "
                                  "give a target path.")
        jobs.append(Job(str(local), ds.full_path(rel), rel, os.path.getsize(local)))
    _check_unique(jobs)
    result = TransferResult("upload")
    if not overwrite:
        exists = remote_exists(ds, [j.dst for j in jobs])
        result.skipped = [j.rel for j in jobs if j.dst in exists]
        jobs = [j for j in jobs if j.dst not in exists]
        _say_skipped(ds, result.skipped, "on the datastore")
    total = sum(j.size for j in jobs)
    with TransferProgress(description or f"upload → {ds.name}", files=len(jobs),
                          total_bytes=total, enabled=show_progress) as progress:
        stats = run_jobs(ds, jobs, "put", progress)
    if jobs:
        ds.backend.after_writes(ds.fs, common_dir([j.dst for j in jobs]))
    result.files = complete_stats(ds, jobs, stats)
    result.bytes = total
    result.seconds = time.perf_counter() - started
    return result


def download(ds: Datastore, prefix: str, target: str | os.PathLike[str], *, overwrite: bool,
             show_progress: bool) -> TransferResult:
    """Download everything under ``prefix`` into ``target``, keeping datastore-relative paths."""
    from cumulus.datastores._datastore import check_relative

    started = time.perf_counter()
    prefix = check_relative(prefix)
    tree = listing(ds, prefix)
    if not tree:
        raise DatastoreError(f"Nothing to download: {ds.name}:{prefix or '/'} does not exist or "
                             "is empty. Check the prefix with `cumulus datastore list`.")
    root = Path(target)
    jobs = []
    for rel, stat in sorted(tree.items()):
        ds_rel = check_relative(posixpath.join(prefix, rel) if rel else prefix)
        jobs.append(Job(stat.path, str(root / ds_rel), ds_rel, stat.size))
    result = TransferResult("download")
    if not overwrite:
        result.skipped = [j.rel for j in jobs if os.path.exists(j.dst)]
        jobs = [j for j in jobs if not os.path.exists(j.dst)]
        _say_skipped(ds, result.skipped, f"in {str(root)!r}")
    total = sum(j.size for j in jobs)
    with TransferProgress(f"download ← {ds.name}", files=len(jobs), total_bytes=total,
                          enabled=show_progress) as progress:
        stats = run_jobs(ds, jobs, "get", progress)
    by_rel = {ds_rel_of(prefix, rel): s for rel, s in tree.items()}
    result.files = [stats.get(j.rel) or by_rel[j.rel] for j in jobs]
    result.bytes = total
    result.seconds = time.perf_counter() - started
    return result


def listing(ds: Datastore, path: str) -> dict[str, FileStat]:
    """Files under a datastore path (relative names), without Cumulus's own bookkeeping.

    Raises when an output being committed there is incomplete, so no reader sees half of it.
    """
    full = ds.full_path(path)
    tree = ds.backend.tree(ds.fs, full)
    marker = next((r for r in tree if r.rsplit("/", 1)[-1] == COMMITTING), None)
    if marker is not None:
        where = posixpath.join(path, marker.rsplit("/", 1)[0]) if "/" in marker else path
        raise DatastoreError(
            f"{ds.name}:{where or '/'} is incomplete: a run is committing its output there, or "
            f"was killed while doing so (marker {COMMITTING!r}). Wait for that run to finish, "
            "or re-run it to replace the output.")
    return {r: s for r, s in tree.items() if not is_internal(r)}


def is_internal(rel: str) -> bool:
    parts = rel.split("/")
    return parts[-1] in (COMMITTING, MANIFEST) or STAGING_DIR in parts


def ds_rel_of(prefix: str, rel: str) -> str:
    return posixpath.join(prefix, rel) if rel else prefix


def remote_exists(ds: Datastore, paths: list[str]) -> set[str]:
    """Which of these filesystem paths exist: one probe each, or one listing for many."""
    if not paths:
        return set()
    if len(paths) <= EXISTS_PROBES:
        return {p for p in paths if ds.fs.isfile(p)}
    base = common_dir(paths)
    found = ds.backend.tree(ds.fs, base)
    names = {posixpath.join(base, r) if r else base for r in found}
    return set(paths) & names


def complete_stats(ds: Datastore, jobs: list[Job],
                   stats: dict[str, FileStat | None]) -> list[FileStat]:
    """Remote stats for uploaded jobs, listing once for those the backend did not report."""
    missing = [j for j in jobs if stats.get(j.rel) is None]
    listed: dict[str, FileStat] = {}
    if missing:
        base = common_dir([j.dst for j in missing])
        if len(missing) == 1:
            base = missing[0].dst
        for rel, st in ds.backend.tree(ds.fs, base).items():
            listed[posixpath.join(base, rel) if rel else base] = st
    return [stats.get(j.rel) or listed.get(j.dst) or FileStat(j.dst, j.size) for j in jobs]


def common_dir(paths: list[str]) -> str:
    if len(paths) == 1:
        return posixpath.dirname(paths[0])
    return posixpath.commonpath(paths)


def walk_files(src: Path, *, contain: bool = False,
               skipped: list[str] | None = None) -> list[tuple[str, str]]:
    """(absolute path, posix path relative to ``src``) of every file under ``src``.

    Links are followed; with ``contain`` (a run's outputs) only while they stay inside ``src``:
    a link leading outside is left out and its relative path added to ``skipped``.
    """
    out = []
    root = os.path.realpath(src)
    for dirpath, dirnames, files in os.walk(src, followlinks=True):
        if contain:
            kept = []
            for d in dirnames:
                full = os.path.join(dirpath, d)
                if os.path.islink(full) and not _inside(full, root):
                    _skip(skipped, full, src)
                else:
                    kept.append(d)
            dirnames[:] = kept
        dirnames.sort()
        for name in sorted(files):
            full = os.path.join(dirpath, name)
            if contain and os.path.islink(full) and not _inside(full, root):
                _skip(skipped, full, src)
                continue
            out.append((full, os.path.relpath(full, src).replace(os.sep, "/")))
    return out


def _inside(path: str, root: str) -> bool:
    target = os.path.realpath(path)
    return target == root or target.startswith(root + os.sep)


def _skip(skipped: list[str] | None, full: str, src: Path) -> None:
    if skipped is not None:
        skipped.append(os.path.relpath(full, src).replace(os.sep, "/"))


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _check_unique(jobs: list[Job]) -> None:
    seen: dict[str, str] = {}
    for j in jobs:
        if j.rel in seen:
            raise ValidationError(f"Two files map to the same target {j.rel!r}: {seen[j.rel]!r} "
                                  f"and {j.src!r}. Give a relative_root that keeps them apart.")
        seen[j.rel] = j.src


def _say_skipped(ds: Datastore, skipped: list[str], where: str) -> None:
    if skipped:
        sample = ", ".join(repr(s) for s in skipped[:3]) + (", ..." if len(skipped) > 3 else "")
        logger.warning("Skipped %d file%s that already exist %s (datastore %r): %s. Pass "
                       "overwrite=True to replace them.", len(skipped),
                       "s" * (len(skipped) != 1), where, ds.name, sample)
