"""``azureml.pipeline.core.graph``: PipelineParameter."""

from __future__ import annotations

from typing import Any

from cumulus.errors import PipelineError


class PipelineParameter:
    """A pipeline parameter (``PipelineParameter(name='lr', default_value=0.1)``), usable in
    step arguments; its value is set per submission (``pipeline_parameters={'lr': 0.2}``)."""

    def __init__(self, name: str, default_value: Any) -> None:
        if not isinstance(name, str) or not name.isidentifier():
            raise PipelineError(f"PipelineParameter name {name!r} must be a Python identifier "
                                "(letters, digits, '_').")
        self.name, self.default_value = name, default_value

    def __repr__(self) -> str:
        return f"PipelineParameter(name={self.name!r}, default_value={self.default_value!r})"


__all__ = ["PipelineParameter"]
