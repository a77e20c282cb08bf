"""Reading a 200 MB file through a read-only FUSE mount vs download-then-read, on Azurite.

Mount: time to mount, time to first byte (open + 1-byte read), and sequential read rate (1 MiB
reads to the end). Download-then-read: the first byte is available once the whole file is
downloaded (``Datastore.download``); then the local read. Rates count the whole path from the
request to the last byte.

    .venv/bin/python benchmarks/bench_datastore_mount.py [--reps 3]
"""

from __future__ import annotations

import argparse
import shutil
import time
import uuid

from _azurite_bench import ENV, MB, WORK, big_file, median, start_azurite


def read_all(path, first_byte_from: float) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(seconds to first byte since ``first_byte_from``, seconds to the end)."""
    with open(path, "rb", buffering=0) as fh:
        fh.read(1)
        ttfb = time.perf_counter() - first_byte_from
        while fh.read(1 << 20):
            pass
    return ttfb, time.perf_counter() - first_byte_from


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    reps = parser.parse_args().reps

    from cumulus.datastores import Datastore, mount_unavailable_reason
    from cumulus.datastores._mount import Mount

    reason = mount_unavailable_reason()
    if reason:
        raise SystemExit(f"FUSE unavailable: {reason}")
    az = start_azurite()
    try:
        az.create_container("bench")
        ds = Datastore(None, "bench", "az://bench", {"credential_env": ENV})
        src = big_file()
        ds.upload(src, target_path="big", show_progress=False)
        size = src.stat().st_size
        rows: dict[str, list[tuple[float, float, float]]] = {"mount": [], "download": []}
        for _ in range(reps):
            root = WORK / f"mount-{uuid.uuid4().hex[:8]}"
            start = time.perf_counter()
            with Mount(ds, "big", root / "mp") as mp:
                ready = time.perf_counter() - start
                t0 = time.perf_counter()
                ttfb, total = read_all(mp / src.name, t0)
            rows["mount"].append((ready, ttfb, total))
            t0 = time.perf_counter()
            ds.download(root / "dl", prefix=f"big/{src.name}", show_progress=False)
            ttfb, total = read_all(root / "dl" / "big" / src.name, t0)
            rows["download"].append((0.0, ttfb, total))
            shutil.rmtree(root, ignore_errors=True)
        print(f"\nReading {size / MB:.0f} MB: FUSE mount vs download-then-read (median of "
              f"{reps})\n")
        print("| mode | setup | time to first byte | time to last byte | sequential rate |")
        print("|---|---:|---:|---:|---:|")
        for mode, label in (("mount", "as_mount (FUSE)"), ("download", "download then read")):
            ready, ttfb, total = (median([r[i] for r in rows[mode]]) for i in range(3))
            print(f"| {label} | {ready:.2f} s | {ttfb * 1000:.0f} ms | {total:.2f} s | "
                  f"{size / total / MB:.0f} MB/s |")
    finally:
        az.stop()


if __name__ == "__main__":
    main()
