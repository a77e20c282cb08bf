"""Datastore transfers against raw adlfs on the same Azurite.

One 200 MB file and 1000 files of 4 KB, up and down: raw ``fs.put`` / ``fs.get`` (recursive for
the folder) against ``Datastore.upload`` / ``Datastore.download`` with their defaults
(``overwrite=False``: one existence listing first; ETags recorded). Runs alternate, each into a
fresh prefix and a fresh local folder; the table shows medians. Goals: big file >= 0.9x raw,
small files >= 1.0x raw (ratio = raw time / Cumulus time; higher is better).

    .venv/bin/python benchmarks/bench_datastore_transfer.py [--reps 3]
"""

from __future__ import annotations

import argparse
import shutil
import uuid
from pathlib import Path

from _azurite_bench import (
    ENV,
    MB,
    WORK,
    big_file,
    median,
    raw_adlfs,
    small_files,
    start_azurite,
    timed,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    reps = parser.parse_args().reps

    from cumulus.datastores import Datastore

    az = start_azurite()
    try:
        az.create_container("bench")
        ds = Datastore(None, "bench", "az://bench", {"credential_env": ENV})
        raw = raw_adlfs(az.connection_string)
        big, small = big_file(), small_files()
        cases = {"200 MB file": (big, 200 * MB, 1), "1000 x 4 KB": (small, 1000 * 4096, 1000)}
        rows = []
        for label, (src, nbytes, nfiles) in cases.items():
            times: dict[str, list[float]] = {}
            for rep in range(reps):
                for key, seconds in _one_rep(raw, ds, src, cumulus_first=rep % 2 == 1).items():
                    times.setdefault(key, []).append(seconds)
            for way in ("up", "down"):
                r, c = median(times[f"raw {way}"]), median(times[f"cum {way}"])
                rows.append((label, way, r, c, nbytes, nfiles))
        _print(rows, reps)
    finally:
        az.stop()


def _one_rep(raw, ds, src: Path, *, cumulus_first: bool,  # type: ignore[no-untyped-def]
             ) -> dict[str, float]:
    """Raw and Cumulus (alternating who goes first), up then down, into fresh places."""
    tag = uuid.uuid4().hex[:8]
    rdst, cdst = WORK / f"raw-{tag}", WORK / f"cum-{tag}"
    rpath = f"bench/raw-{tag}/{src.name}"
    steps = {
        "raw up": lambda: raw.put(str(src), rpath, recursive=True),
        "cum up": lambda: ds.upload(src, target_path=f"cum-{tag}", show_progress=False),
        "raw down": lambda: raw.get(rpath, str(rdst), recursive=True),
        "cum down": lambda: ds.download(cdst, prefix=f"cum-{tag}", show_progress=False),
    }
    order = ["cum up", "raw up", "cum down", "raw down"] if cumulus_first else list(steps)
    out = {key: timed(steps[key]) for key in order}
    raw.rm([f"bench/raw-{tag}", f"bench/cum-{tag}"], recursive=True)
    for path in (rdst, cdst):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    return out


def _rate(seconds: float, nbytes: int, nfiles: int) -> str:
    return f"{nbytes / seconds / MB:.0f} MB/s" if nfiles == 1 else f"{nfiles / seconds:.0f} files/s"


def _print(rows: list[tuple[str, str, float, float, int, int]], reps: int) -> None:
    print(f"\nDatastore transfers vs raw adlfs on Azurite (median of {reps})\n")
    print("| case | way | raw adlfs | Cumulus | raw rate | Cumulus rate | ratio |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for label, way, r, c, nbytes, nfiles in rows:
        print(f"| {label} | {way} | {r:.2f} s | {c:.2f} s | {_rate(r, nbytes, nfiles)} | "
              f"{_rate(c, nbytes, nfiles)} | "
              f"{r / c:.2f}x |")


if __name__ == "__main__":
    main()
