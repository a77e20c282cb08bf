"""Shared set-up for the datastore benchmarks: a private Azurite, data files, timing."""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work" / "datastores"
sys.path.insert(0, str(HERE.parent / "tests"))

from azurite import Azurite  # noqa: E402

ENV = "CUMULUS_BENCH_AZURE_CS"
MB = 1_000_000


def start_azurite() -> Azurite:
    az = Azurite().start()
    os.environ[ENV] = az.connection_string
    return az


def big_file(size: int = 200 * MB) -> Path:
    path = WORK / f"big-{size}.bin"
    if not path.exists() or path.stat().st_size != size:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            for _ in range(size // MB):
                fh.write(os.urandom(MB))
    return path


def small_files(n: int = 1000, size: int = 4096) -> Path:
    root = WORK / f"small-{n}x{size}"
    if not root.is_dir() or len(list(root.iterdir())) != n:
        root.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            (root / f"f{i:04d}.bin").write_bytes(os.urandom(size))
    return root


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def raw_adlfs(conn: str):  # type: ignore[no-untyped-def]
    """A raw adlfs filesystem of its own (not the instance Cumulus caches)."""
    import adlfs

    return adlfs.AzureBlobFileSystem(connection_string=conn, skip_instance_cache=True)
