"""One typed registry from a run configuration's type to the code that submits it.

``Experiment.submit(config)`` dispatches here on ``type(config)``. Each configuration module
registers its own submitter when it is imported (a config object cannot exist before its
module is imported), so this module imports nothing above the error tree::

    @submit_config.register
    def _(config: ScriptRunConfig, experiment, **options) -> Run: ...

A configuration type that is not registered but has a ``_submit(experiment, **options)``
method (a user-defined step kind) is submitted through that method.
"""

from __future__ import annotations

from functools import singledispatch
from typing import TYPE_CHECKING, Any

from cumulus.errors import ValidationError

if TYPE_CHECKING:
    from cumulus.experiment import Experiment
    from cumulus.run import Run

SUBMITTABLE = "a ScriptRunConfig, a Sweep, an AutoMLConfig or a @pipeline function"


@singledispatch
def submit_config(config: Any, experiment: Experiment, **options: Any) -> Run:
    """Submit ``config`` to ``experiment``; the fallback for unregistered types."""
    submit = getattr(config, "_submit", None)
    if not callable(submit):
        raise ValidationError(f"Cannot submit a {type(config).__name__}. Submit {SUBMITTABLE}.")
    return submit(experiment, **options)


__all__ = ["SUBMITTABLE", "submit_config"]
