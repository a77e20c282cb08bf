"""Run statuses and the transitions the run lifecycle allows.

Pure data: the store enforces these on every status change, in one transaction.

Example::

    >>> RunStatus("Running").is_terminal
    False
    >>> can_transition("Completed", "Running")
    False
"""

from __future__ import annotations

from enum import Enum


class RunStatus(str, Enum):
    """Lifecycle of a run; the names are those of the managed service users come from."""

    NOT_STARTED = "NotStarted"
    QUEUED = "Queued"
    PREPARING = "Preparing"
    STARTING = "Starting"
    RUNNING = "Running"
    FINALIZING = "Finalizing"
    CANCEL_REQUESTED = "CancelRequested"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELED = "Canceled"

    def __str__(self) -> str:
        return self.value

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL

    @classmethod
    def parse(cls, value: str | RunStatus) -> RunStatus:
        if isinstance(value, RunStatus):
            return value
        for member in cls:
            if value.lower() in (member.value.lower(), member.name.lower()):
                return member
        from cumulus.errors import ValidationError, allowed_list, did_you_mean

        names = [m.value for m in cls]
        raise ValidationError(
            f"Unknown run status {value!r}. Allowed: {allowed_list(names)}."
            + did_you_mean(value, names)
        )


S = RunStatus
TERMINAL = frozenset({S.COMPLETED, S.FAILED, S.CANCELED})
ACTIVE = frozenset(set(S) - TERMINAL)

_ALWAYS = {S.FAILED, S.CANCELED, S.CANCEL_REQUESTED}
TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    S.NOT_STARTED: frozenset({S.QUEUED, S.RUNNING, *_ALWAYS}),
    S.QUEUED: frozenset({S.PREPARING, S.STARTING, S.RUNNING, *_ALWAYS}),
    S.PREPARING: frozenset({S.QUEUED, S.STARTING, S.RUNNING, *_ALWAYS}),
    S.STARTING: frozenset({S.QUEUED, S.RUNNING, *_ALWAYS}),
    S.RUNNING: frozenset({S.QUEUED, S.FINALIZING, S.COMPLETED, *_ALWAYS}),
    # a node lost while uploading outputs: the run is requeued (its staging is redone)
    S.FINALIZING: frozenset({S.QUEUED, S.COMPLETED, *_ALWAYS}),
    S.CANCEL_REQUESTED: frozenset({S.CANCELED, S.FAILED}),
    S.COMPLETED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELED: frozenset(),
}


def can_transition(src: str | RunStatus, dst: str | RunStatus) -> bool:
    """True when a run in ``src`` may move to ``dst``."""
    return RunStatus.parse(dst) in TRANSITIONS[RunStatus.parse(src)]


def sources_for(dst: str | RunStatus) -> frozenset[RunStatus]:
    """Every status from which ``dst`` can be reached."""
    target = RunStatus.parse(dst)
    return frozenset(src for src, dsts in TRANSITIONS.items() if target in dsts)
