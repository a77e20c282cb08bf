"""``azureml.core.compute_target``: the exception SDK code catches around target lookups."""

from __future__ import annotations

from cumulus.errors import ComputeError, ComputeTargetNotFoundError


class ComputeTargetException(ComputeError):
    """Raised by the SDK's compute calls; ``except ComputeTargetException`` catches a target
    that does not exist."""


class _TargetNotFound(ComputeTargetException, ComputeTargetNotFoundError):
    """A missing target, catchable as the SDK's and as Cumulus's error."""


__all__ = ["ComputeTargetException"]
