"""Trials issued by the submitting process until the sweep's controller takes over.

A sweep's controller is a process of its own, and it needs most of a second of CPU to start
(the store, Dask and the samplers are imported). The first trials, one batch of
``max_concurrent_runs``, are issued by the submitting process at once; short trials end long
before the controller is up, and the cluster would wait for it. So the submitting process
keeps issuing trials in a background thread, the *bridge*, with the controller's own decisions
(the same sampler, limits and history), until the controller claims the sweep.

The handover is exact: the bridge records each trial in one transaction with a check that the
controller it spawned has not claimed the sweep yet (``Store.create_run(while_unclaimed=)``),
and the claim is a write to the same row. A trial recorded before the claim is in the store
when the controller reads its trials; after the claim the bridge records nothing and stops.

The bridge only issues trials. It cancels nothing, finishes nothing and writes no log: early
termination, the sweep's end and its log are the controller's, which judges every trial it
finds anew. It also stops when the controller process exits before claiming, after
``BRIDGE_LIMIT`` seconds, or with the process it lives in (it is a daemon thread).

Example::

    proc = spawn(ws, sweep_id)                          # the controller, importing
    start_bridge(ws, sweep_id, proc)                    # trials go on meanwhile
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from typing import Any

from cumulus.errors import SweepClaimedError

from ._controller import SweepController
from ._plan import Decision
from ._trials import TrialSubmitter

#: seconds: a controller that has not claimed the sweep by then is stuck somewhere; trials
#: are not issued from a process that may be a user's notebook for longer than that
BRIDGE_LIMIT = 60.0
WAIT = 0.25             # seconds between looks when no event arrives

log = logging.getLogger("cumulus.sweeps.bridge")


class SweepBridge(SweepController):
    """A controller that only issues trials, until ``controller`` claims the sweep."""

    def __init__(self, ws: Any, sweep_id: str, controller: subprocess.Popen[bytes]) -> None:
        super().__init__(ws, sweep_id)
        self.controller = controller

    def run(self) -> str:
        """Issue trials until the handover; returns why the bridge stopped."""
        try:
            self.submitter = TrialSubmitter(self.ws, self.experiment_id, self.sweep_id,
                                            self.spec.template,
                                            before_claim_by=self.controller.pid)
            self._recover()
            self._subscribe()
            return self._bridge()
        except SweepClaimedError:
            return "claimed"
        except Exception as exc:      # the controller does everything the bridge does
            log.debug("sweep %s: the bridge stopped: %s", self.sweep_id, exc, exc_info=True)
            return f"failed: {type(exc).__name__}: {exc}"
        finally:
            self.wakeup.close()

    def _bridge(self) -> str:
        deadline = time.monotonic() + BRIDGE_LIMIT
        woken_by: set[str] = {"start"}
        while not self.stop.is_set():
            if self.controller.poll() is not None:
                return "the controller exited"
            if time.monotonic() > deadline:
                return "time limit"
            if self._worth_a_look(woken_by) and self._step().finish:
                return "nothing left to issue"
            woken_by = self.wakeup.wait(WAIT)
        return "stopped"

    # what a controller does and a bridge does not --------------------------------------
    def _recover(self) -> None:
        self._read_full([t.trial_id for t in self._load() if not t.active])

    def _apply(self, decision: Decision) -> None:
        for params in decision.launch:         # SweepClaimedError ends the bridge
            self._launch(params)

    def _check_lost(self) -> None:
        pass

    def _check_metric_name(self) -> None:     # the controller warns, once
        if any(t.points for t in self.trials.values()):
            self.state["primary_metric_seen"] = True

    def _note(self, text: str) -> None:       # the controller notes every trial it finds
        log.debug("sweep %s (bridge): %s", self.sweep_id, text)

    def _flush_log(self, force: bool = False) -> None:
        pass

    def _save_state(self) -> None:
        pass


def start_bridge(ws: Any, sweep_id: str, controller: subprocess.Popen[bytes]
                 ) -> threading.Thread:
    """Run a :class:`SweepBridge` in a daemon thread of this process."""
    def bridge() -> None:
        try:
            SweepBridge(ws, sweep_id, controller).run()
        except Exception:        # e.g. the sweep's record could not be read: nothing lost
            log.debug("sweep %s: no bridge", sweep_id, exc_info=True)

    thread = threading.Thread(target=bridge, name=f"cumulus-sweep-bridge-{sweep_id}",
                              daemon=True)
    thread.start()
    return thread


__all__ = ["BRIDGE_LIMIT", "SweepBridge", "start_bridge"]
