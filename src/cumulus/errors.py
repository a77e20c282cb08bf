"""One exception tree for everything Cumulus raises on purpose.

Every message names what was received, what is allowed, and the likely fix. Catch
:class:`CumulusError` to handle any of them.

Example::

    try:
        ComputeTarget(ws, "gpu-clustr")
    except ComputeTargetNotFoundError as exc:
        print(exc)   # ... did you mean 'gpu-cluster'?
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(received: str, allowed: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest allowed name, or ``""``."""
    matches = difflib.get_close_matches(str(received), [str(a) for a in allowed], n=1, cutoff=0.6)
    return f" Did you mean {matches[0]!r}?" if matches else ""


def allowed_list(allowed: Iterable[str]) -> str:
    names = sorted(str(a) for a in allowed)
    return ", ".join(repr(n) for n in names) if names else "(none)"


class CumulusError(Exception):
    """Root of every error Cumulus raises on purpose."""


class ConfigError(CumulusError):
    """A cumulus.yaml or option value is missing, unknown or malformed."""


class WorkspaceNotFoundError(ConfigError):
    """No cumulus.yaml in the current folder or any parent."""


class ValidationError(CumulusError, ValueError):
    """An argument to a public API is invalid; nothing was scheduled."""


class NotFoundError(CumulusError, LookupError):
    """A named object does not exist."""

    kind = "object"

    def __init__(self, name: str, allowed: Iterable[str] = (), hint: str = "") -> None:
        allowed = list(allowed)
        msg = f"{self.kind} {name!r} does not exist."
        if allowed:
            msg += f" Known: {allowed_list(allowed)}."
        msg += did_you_mean(name, allowed)
        if hint:
            msg += f" {hint}"
        super().__init__(msg)
        self.name = name


class ComputeTargetNotFoundError(NotFoundError):
    kind = "Compute target"


class ExperimentNotFoundError(NotFoundError):
    kind = "Experiment"


class RunNotFoundError(NotFoundError):
    kind = "Run"


class DatastoreNotFoundError(NotFoundError):
    kind = "Datastore"


class ModelNotFoundError(NotFoundError):
    kind = "Model"


class ServiceNotFoundError(NotFoundError):
    kind = "Service"


class EnvironmentNotFoundError(NotFoundError):
    kind = "Environment"


class ScheduleNotFoundError(NotFoundError):
    kind = "Schedule"


class StoreError(CumulusError):
    """The run-history store cannot be opened or written."""


class InvalidTransitionError(StoreError):
    """A run status change that the run lifecycle does not allow (e.g. Completed -> Running)."""


class SnapshotError(ValidationError):
    """The source directory cannot be snapshotted (too big, too many files, missing)."""


class RunError(CumulusError):
    """A run ended Failed or Canceled while the caller asked to raise on error."""

    def __init__(self, message: str, *, run_id: str = "", status: str = "",
                 exit_code: int | None = None, log_tail: str = "") -> None:
        super().__init__(message)
        self.run_id = run_id
        self.status = status
        self.exit_code = exit_code
        self.log_tail = log_tail


class ComputeError(CumulusError):
    """A compute target cannot start, scale or accept a run."""


class ResourceUnavailableError(ComputeError, ValidationError):
    """A run asks for resources no node of its target can ever provide."""


class DatastoreError(CumulusError):
    """A datastore cannot be reached, authenticated against or written."""


class MissingDependencyError(CumulusError, ImportError):
    """An optional extra is needed; the message says which to install."""

    def __init__(self, what: str, package: str, extra: str | None = None) -> None:
        hint = f"pip install 'cumulus-ml[{extra}]'" if extra else f"pip install {package}"
        super().__init__(f"{what} needs the package {package!r}, which is not installed. "
                         f"Install it with: {hint}")
        self.package = package
        self.extra = extra


class PipelineError(ValidationError):
    """A pipeline definition is invalid (cycle, unknown input, bad parameter)."""


class SweepError(ValidationError):
    """A sweep definition is invalid (bad space, sampler, policy or limits)."""


class SweepClaimedError(CumulusError):
    """A trial was not recorded from the submitting process: the sweep's controller has
    claimed the sweep, and issues its trials itself (see ``cumulus.sweeps._bridge``)."""


class AutoMLError(ValidationError):
    """An automated ML configuration or its training data was refused."""


class DeploymentError(CumulusError):
    """A model service cannot be deployed, updated or reached."""


class EnvironmentBuildError(CumulusError):
    """An environment (virtualenv or image) failed to build."""


__all__ = [name for name in dir() if name.endswith("Error")] + ["did_you_mean"]
