"""``azureml.data.data_reference``: DataReference is a datastore path."""

from __future__ import annotations

from typing import Any

from cumulus.datastores import DataPath


def DataReference(datastore: Any, data_reference_name: str | None = None,
                  path_on_datastore: str | None = None, mode: str = "mount",
                  path_on_compute: str | None = None, overwrite: bool = False) -> DataPath:
    """A path on ``datastore`` read by a step (mounted or downloaded)."""
    name = datastore if isinstance(datastore, str) else datastore.name
    dp = DataPath(name, (path_on_datastore or "").strip("/"))
    if data_reference_name:
        dp = dp.named(data_reference_name)
    return dp.as_download(path_on_compute) if mode == "download" else dp.as_mount()


__all__ = ["DataReference"]
