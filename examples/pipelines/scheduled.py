"""Schedules for the digits pipeline: every N seconds, and whenever new data lands.

Creates an interval schedule and a datastore-change schedule (watching ``digits/incoming/``
on the default datastore), serves them for a while (what ``cumulus schedule serve`` does),
drops a new file into the watched folder, and lists the runs each schedule started. Prefect's
Runner executes each due flow run in its own process; the datastore-change run records which
files changed. Schedules are disabled, the runs in flight awaited, and the schedules deleted at
the end.

Run::

    python examples/pipelines/scheduled.py [--seconds 60] [--every 30]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_pipeline import open_workspace, train_pipeline, upload_digits

from cumulus.flows import Schedule


def main() -> None:
    from cumulus.flows._serve import serve

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workspace", default=None)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--every", type=float, default=30)
    args = parser.parse_args()
    ws = open_workspace(args.workspace)
    upload_digits(ws)
    ds = ws.get_default_datastore()
    every = Schedule.create(ws, "digits-every", pipeline=train_pipeline, interval=args.every,
                            parameters={"C": 2.0}, experiment="digits-scheduled",
                            exist_ok=True)
    on_data = Schedule.create(ws, "digits-on-data", pipeline=train_pipeline, datastore=ds,
                              path_on_datastore="digits/incoming/", polling_interval=2,
                              experiment="digits-scheduled", exist_ok=True)
    for s in (every, on_data):
        print(f"{s.name}: {s.describe()}, next {s.next_run_times(1)}")
    stop = threading.Event()
    server = threading.Thread(target=serve, args=(ws,), kwargs={"stop": stop}, daemon=True)
    server.start()
    time.sleep(min(10, args.seconds / 3))
    with ds.fs.open(ds.full_path(f"digits/incoming/batch-{int(time.time())}.csv"), "w") as fh:
        fh.write("new data\n")
    print("dropped a new file into digits/incoming/")
    time.sleep(args.seconds)
    for s in (every, on_data):
        s.disable()                     # no new runs; let the ones in flight finish
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and any(
            r.get_status() not in ("Completed", "Failed", "Canceled")
            for s in (every, on_data) for r in s.get_runs()):
        time.sleep(1)
    stop.set()                          # stopping the runner cancels what still runs
    server.join(timeout=30)
    for s in (every, on_data):
        runs = s.get_runs()
        print(f"\n{s.name}: {len(runs)} run(s)")
        for r in runs:
            trigger = r.get_properties().get("trigger") or {}
            print(f"  {r.id} {r.get_status()} added={trigger.get('added', '-')}")
        s.delete()


if __name__ == "__main__":
    main()
