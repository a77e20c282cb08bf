"""What every sampler shares: the trial record it learns from and the ``suggest`` interface.

A sampler is a decision over a frozen history. ``suggest(history, n)`` returns the next ``n``
parameter dicts and must give the same answer for the same history, whichever process asks:
that is what lets a sweep controller die and resume from the run-history store alone.

Example::

    history = (TrialRecord("t1", {"--lr": 0.01}, value=0.91, state="complete"),
               TrialRecord("t2", {"--lr": 0.10}, value=None, state="running"))
    sampler.suggest(history, 2)        # [{'--lr': ...}, {'--lr': ...}]
"""

from __future__ import annotations

import math
import secrets
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from cumulus.errors import SweepError, allowed_list, did_you_mean

from ._space import SearchSpace

TrialState = Literal["complete", "running", "pruned", "failed"]
TRIAL_STATES: tuple[str, ...] = ("complete", "running", "pruned", "failed")
Goal = Literal["maximize", "minimize"]
GOALS: tuple[str, ...] = ("maximize", "minimize")


def normalize_goal(goal: Any) -> Goal:
    """``"maximize"`` or ``"minimize"`` from a string or an enum (case-insensitive)."""
    raw = getattr(goal, "value", goal)
    text = str(raw).strip().lower()
    if text not in GOALS:
        raise SweepError(f"the primary metric goal must be 'maximize' or 'minimize', got "
                         f"{goal!r}.{did_you_mean(text, GOALS)}")
    return text  # type: ignore[return-value]


@dataclass(frozen=True)
class TrialRecord:
    """One trial as a sampler sees it: its parameters, primary-metric value and state.

    ``state`` is one of ``"complete"``, ``"running"`` (also queued / starting: issued, not
    finished), ``"pruned"`` (cancelled by an early-termination policy) or ``"failed"`` (also
    cancelled by the user); ``value`` is the final (or latest) primary-metric value, None when
    there is none. ``params`` is copied. Pass every trial issued so far, in issue order.

    Example::

        TrialRecord("sweep_3", {"--lr": 0.01, "--batch": 32}, value=0.93, state="complete")
    """

    trial_id: str
    params: Mapping[str, Any]
    value: float | None = None
    state: TrialState = "complete"

    def __post_init__(self) -> None:
        state = str(self.state).strip().lower()
        if state not in TRIAL_STATES:
            raise SweepError(f"trial {self.trial_id!r}: state must be one of "
                             f"{allowed_list(TRIAL_STATES)}, got {self.state!r}."
                             f"{did_you_mean(state, TRIAL_STATES)}")
        if not isinstance(self.params, Mapping):
            raise SweepError(f"trial {self.trial_id!r}: params must be a mapping, got "
                             f"{type(self.params).__name__}.")
        value = self.value
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                raise SweepError(f"trial {self.trial_id!r}: value must be a number or None, "
                                 f"got {value!r}.")
            value = float(value)
        object.__setattr__(self, "trial_id", str(self.trial_id))
        object.__setattr__(self, "state", state)
        object.__setattr__(self, "params", dict(self.params))
        object.__setattr__(self, "value", value)

    @property
    def usable_value(self) -> float | None:
        """The value when it is a finite number, else None."""
        return self.value if self.value is not None and math.isfinite(self.value) else None


def as_history(history: Sequence[TrialRecord] | None) -> tuple[TrialRecord, ...]:
    """Validate a history: a sequence of TrialRecords with distinct trial ids."""
    records = tuple(history or ())
    seen: set[str] = set()
    for record in records:
        if not isinstance(record, TrialRecord):
            raise SweepError(f"a sampler history holds TrialRecord objects, got "
                             f"{type(record).__name__}.")
        if record.trial_id in seen:
            raise SweepError(f"trial id {record.trial_id!r} appears twice in the history.")
        seen.add(record.trial_id)
    return records


def check_count(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise SweepError(f"suggest() needs a count n >= 0, got {n!r}.")
    return int(n)


def check_seed(seed: Any) -> int:
    """A non-negative int seed; None draws one (so it can be stored and the sweep resumed)."""
    if seed is None:
        return secrets.randbits(63)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SweepError(f"seed must be a non-negative int or None, got {seed!r}.")
    return int(seed)


def derive_seed(seed: int, *path: int) -> int:
    """A 32-bit seed derived from ``seed`` and a position (e.g. the number of trials issued)."""
    return int(np.random.SeedSequence([seed, *path]).generate_state(1)[0])


def param_key(space: SearchSpace, params: Mapping[str, Any]) -> tuple[Any, ...]:
    """A hashable key of ``params`` over the space's names (missing names read as None)."""
    key = []
    for name in space.names:
        value = params.get(name)
        try:
            hash(value)
        except TypeError:
            value = repr(value)
        key.append(value)
    return tuple(key)


class Sampling(ABC):
    """Base of all samplers: ``suggest(history, n)`` over a :class:`SearchSpace`.

    Example::

        sampler = RandomSampling({"--lr": uniform(0, 1)}, seed=0)
        first = sampler.suggest((), 4)
        sampling_from_dict(sampler.to_dict()).suggest((), 4) == first   # True
    """

    type_name: ClassVar[str]
    space: SearchSpace

    @abstractmethod
    def suggest(self, history: Sequence[TrialRecord], n: int, *,
                goal: Goal | str | None = None) -> list[dict[str, Any]]:
        """The next ``n`` parameter dicts given everything issued so far.

        ``history`` holds every trial issued before, in issue order, in any state. ``goal`` is
        the primary-metric goal; only model-based samplers need it. A finite sampler (grid) may
        return fewer than ``n`` when it runs out.
        """

    def exhausted(self, history: Sequence[TrialRecord]) -> bool:
        """True when no new point can be suggested (only finite samplers ever say so)."""
        return False

    @property
    def total_size(self) -> int | None:
        """How many distinct points the sampler can issue; None when unbounded."""
        return None

    def _base_dict(self) -> dict[str, Any]:
        return {"type": self.type_name, "space": self.space.to_dict()}

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: type name, space and settings (seed included)."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Sampling:
        """Rebuild a sampler of this class from :meth:`to_dict` output."""
        from ._sampling import sampling_from_dict

        sampler = sampling_from_dict(data)
        if not isinstance(sampler, cls):
            raise SweepError(f"expected a {cls.type_name!r} sampler, got {sampler.type_name!r}.")
        return sampler

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sampling):
            return type(self) is type(other) and self.to_dict() == other.to_dict()
        return NotImplemented

    def __hash__(self) -> int:
        return hash((type(self), self.space))

    def __repr__(self) -> str:
        settings = {k: v for k, v in self.to_dict().items() if k not in ("type", "space")}
        extra = "".join(f", {k}={v!r}" for k, v in settings.items())
        return f"{type(self).__name__}({self.space!r}{extra})"
