"""Datastores over fsspec and the data paths runs receive (download, mount, upload, direct)."""

from __future__ import annotations

from cumulus.datastores._datapath import DataPath
from cumulus.datastores._datastore import Datastore, check_relative

__all__ = ["DataPath", "Datastore", "check_relative"]
