"""``azureml.tensorboard``: TensorBoard over runs' event files."""

from __future__ import annotations

from cumulus.tensorboard import Tensorboard

__all__ = ["Tensorboard"]
