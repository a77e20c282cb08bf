"""Each step's Prefect task run links its Cumulus run: a link artifact, made off the path.

Creating an artifact is a call to the Prefect API (about 10 ms, more on a busy server); made
inside the step's task it delayed every step of a chain by that much. The task hands it to one
background thread (with the task's context, so the artifact belongs to that task run) and goes
on; the pipeline waits for the links before it ends.

Example::

    links = StepLinks(log=engine.log)
    links.add("train", "exp_123_abc", reused=False)     # inside the step's Prefect task
    links.wait()                                         # before the flow run ends
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

WAIT_LIMIT = 30.0   # seconds the end of a pipeline waits for its links


class StepLinks:
    """Link artifacts of a pipeline run's steps, created in the background."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self.log = log
        self.pool: ThreadPoolExecutor | None = None
        self.pending: list[Future[Any]] = []

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
        if self.pool is None:
            self.pool = ThreadPoolExecutor(1, thread_name_prefix="cumulus-links")
        context = contextvars.copy_context()     # Prefect's settings and the task's run
        self.pending.append(self.pool.submit(context.run, self._create, step, artifact))

    def _create(self, step: str, artifact: Any) -> None:
        try:
            artifact.create()
        except Exception as exc:      # a missing link never fails a step
            self.log(f"(step {step}: no Prefect link artifact: {type(exc).__name__}: {exc})")

    def wait(self) -> None:
        """Wait (a bounded time) for the queued links; then stop the thread."""
        if self.pending:
            wait(self.pending, timeout=WAIT_LIMIT)
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None


__all__ = ["StepLinks"]
