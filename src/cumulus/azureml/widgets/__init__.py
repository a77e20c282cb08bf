"""``azureml.widgets``: RunDetails (a live view in Jupyter, text in a terminal)."""

from cumulus.widgets import RunDetails

__all__ = ["RunDetails"]
