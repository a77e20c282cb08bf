"""The node content cache behind ``as_download()``: a second download of the same input.

A 200 MB file (and, for contrast, a folder of 1000 x 4 KB files) on Azurite is materialized
twice into run folders through a fresh :class:`ContentCache`: the first fetches everything,
the second only lists the input and hard-links cached files. Goal: the second takes at most 5%
of the first's time and fetches zero bytes.

    .venv/bin/python benchmarks/bench_datastore_cache.py [--reps 3]
"""

from __future__ import annotations

import argparse
import shutil
import uuid

from _azurite_bench import ENV, MB, WORK, big_file, median, small_files, start_azurite


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    reps = parser.parse_args().reps

    from cumulus.datastores import ContentCache, Datastore

    az = start_azurite()
    try:
        az.create_container("bench")
        ds = Datastore(None, "bench", "az://bench", {"credential_env": ENV})
        ds.upload(big_file(), target_path="big", show_progress=False)
        ds.upload(small_files(), target_path="small", show_progress=False)
        print(f"\nas_download twice through the node cache (median of {reps})\n")
        print("| input | first (cold) | second (warm) | second / first | fetched 1st | "
              "fetched 2nd |")
        print("|---|---:|---:|---:|---:|---:|")
        for label, path in (("200 MB file", f"big/{big_file().name}"),
                            ("1000 x 4 KB folder", "small")):
            firsts, seconds, fetched = [], [], []
            for _ in range(reps):
                root = WORK / f"cache-{uuid.uuid4().hex[:8]}"
                cache = ContentCache(root / "cache")
                one = cache.materialize(ds, path, root / "run1" / "input")
                two = cache.materialize(ds, path, root / "run2" / "input")
                firsts.append(one.seconds)
                seconds.append(two.seconds)
                fetched.append((one.fetched_bytes, two.fetched_bytes))
                shutil.rmtree(root)
            f, s = median(firsts), median(seconds)
            print(f"| {label} | {f:.3f} s | {s:.3f} s | {100 * s / f:.1f}% | "
                  f"{max(b for b, _ in fetched) / MB:.1f} MB | "
                  f"{max(b for _, b in fetched)} B |")
    finally:
        az.stop()


if __name__ == "__main__":
    main()
