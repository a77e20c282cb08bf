"""A sweep controller's process: started detached (:func:`spawn`), or a sweep driven in this
process (:func:`run_controller`). ``spawn`` runs ``python -m cumulus.sweeps._entry SWEEP_ID``
with the workspace in the environment variable ``CUMULUS_SWEEP_WORKSPACE``.

Example::

    proc = spawn(ws, srun.id)                   # what Sweep._submit does
    run_controller(ws, srun.id)                 # or drive it here until the sweep ends
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from typing import Any

from cumulus._install import PACKAGE_ROOT
from cumulus.compute._client import OWN_PROCESS_ENV

from . import _state
from ._controller import SweepController, log

WORKSPACE_ENV = "CUMULUS_SWEEP_WORKSPACE"


def run_controller(ws: Any, sweep_id: str) -> str:
    """Drive sweep ``sweep_id`` in this process until it ends; returns its status."""
    return SweepController(ws, sweep_id).run()


def spawn_controller(ws: Any, sweep_id: str) -> int:
    """Start a detached controller process (it survives this one); returns its pid."""
    return spawn(ws, sweep_id).pid


def spawn(ws: Any, sweep_id: str) -> subprocess.Popen[bytes]:
    """Start a detached controller process (it survives this one), reaped by a thread here
    if it ends first."""
    logfile = ws.state_dir / "logs" / f"sweep-{sweep_id}.log"
    logfile.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env[WORKSPACE_ENV] = json.dumps(ws.payload())
    env.update(OWN_PROCESS_ENV)      # its Dask client's messages are small
    # numpy's OpenBLAS threads spin for ~0.1 s after their start before they sleep: 60 ms of
    # CPU, a sixth of a controller's start, on a machine whose cores run the sweep's trials
    env.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [PACKAGE_ROOT, env.get("PYTHONPATH")]))
    with open(logfile, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "cumulus.sweeps._entry", sweep_id],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, env=env, cwd=str(ws.root))
    threading.Thread(target=proc.wait, daemon=True).start()  # reap it if it ends first
    _state.set_spawned(ws.store, sweep_id, proc.pid)
    return proc


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or WORKSPACE_ENV not in os.environ:
        print(f"usage: {WORKSPACE_ENV}=<workspace payload> python -m "
              f"cumulus.sweeps._entry SWEEP_ID", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    log.setLevel(logging.INFO)
    from cumulus.workspace import Workspace

    ws = Workspace.from_payload(json.loads(os.environ.pop(WORKSPACE_ENV)))
    controller = SweepController(ws, args[0])

    def _on_term(*_: Any) -> None:
        controller.stop.set()
        controller.wakeup.poke()

    signal.signal(signal.SIGTERM, _on_term)
    status = controller.run()
    print(f"sweep {args[0]}: {status}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
