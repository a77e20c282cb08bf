"""``azureml.core.script_run``: ScriptRun is a Run."""

from cumulus.azureml.core.run import Run as ScriptRun

__all__ = ["ScriptRun"]
