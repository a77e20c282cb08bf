"""Each step's Prefect task run links its Cumulus run: a link artifact, made off the path.

Creating an artifact is a call to the Prefect API: about 10 ms in the pipeline process and as
much again of the Prefect server's CPU, which on a small machine is taken from the runs of the
next steps. The step's task queues the link (with the task's context, so the artifact belongs
to that task run) and goes on; one background thread creates the queued links once the oldest
has waited ``DELAY`` seconds, and all of them when the pipeline ends. So a quick chain of
steps is not slowed by its links, and a step of a long pipeline shows its link within
``DELAY`` seconds of its end. The pipeline records its outcome first, then waits for the links
(at most ``WAIT_LIMIT`` s) before its flow run ends.

Example::

    links = StepLinks(log=engine.log)
    links.add("train", "exp_123_abc", reused=False)     # inside the step's Prefect task
    links.wait()                                         # before the flow run ends
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

DELAY = 2.0         # seconds a queued link may wait for others to be created with it
WAIT_LIMIT = 30.0   # seconds the end of a pipeline waits for its links


class StepLinks:
    """Link artifacts of a pipeline run's steps, created in the background."""

    def __init__(self, log: Callable[[str], None], delay: float = DELAY) -> None:
        self.log = log
        self.delay = delay
        self.queue: deque[tuple[float, str, Any, contextvars.Context]] = deque()
        self.cond = threading.Condition()
        self.flushing = False
        self.thread: threading.Thread | None = None

    def add(self, step: str, run_id: str, *, reused: bool) -> None:
        """Queue the link for ``step`` (call it inside the step's task)."""
        from prefect.artifacts import LinkArtifact
        from prefect.runtime import flow_run, task_run

        from cumulus.run import portal_url

        artifact = LinkArtifact(
            link=portal_url(f"runs/{run_id}"), link_text=f"Cumulus run {run_id}",
            description=f"step {step}: " + ("reused an earlier run" if reused
                                            else "the run that executed it"),
            task_run_id=task_run.id, flow_run_id=flow_run.id)
        context = contextvars.copy_context()     # Prefect's settings and the task's run
        with self.cond:
            self.queue.append((time.monotonic(), step, artifact, context))
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._loop, name="cumulus-links",
                                               daemon=True)
                self.thread.start()
            self.cond.notify()

    def _next(self) -> tuple[str, Any, contextvars.Context] | None:
        with self.cond:
            while True:
                if self.queue:
                    due = self.queue[0][0] + self.delay - time.monotonic()
                    if self.flushing or due <= 0:
                        _, step, artifact, context = self.queue.popleft()
                        return step, artifact, context
                    self.cond.wait(due)
                elif self.flushing:
                    return None
                else:
                    self.cond.wait()

    def _loop(self) -> None:
        while (item := self._next()) is not None:
            step, artifact, context = item
            context.run(self._create, step, artifact)

    def _create(self, step: str, artifact: Any) -> None:
        try:
            artifact.create()
        except Exception as exc:      # a missing link never fails a step
            self.log(f"(step {step}: no Prefect link artifact: {type(exc).__name__}: {exc})")

    def wait(self) -> None:
        """Create every queued link now, waiting (a bounded time) for them; then stop."""
        with self.cond:
            self.flushing = True
            self.cond.notify()
            thread = self.thread
        if thread is not None:
            thread.join(WAIT_LIMIT)


__all__ = ["StepLinks"]
