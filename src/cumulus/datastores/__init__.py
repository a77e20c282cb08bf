"""Datastores over fsspec and the data paths runs receive (download, mount, upload, direct).

Example::

    from cumulus.datastores import Datastore
    blob = Datastore.register(ws, "blob", "az://data", credential_env="AZURE_CONN")
    blob.upload("data", target_path="mnist")
    arguments = ["--data", blob.path("mnist").as_download()]
"""

from __future__ import annotations

from cumulus.datastores._backends import Backend, FileStat, backend_for
from cumulus.datastores._cache import CacheStats, ContentCache
from cumulus.datastores._credentials import CredentialProvider
from cumulus.datastores._datapath import DataPath
from cumulus.datastores._datastore import Datastore, check_relative
from cumulus.datastores._direct import direct_filesystem
from cumulus.datastores._mount import mount_unavailable_reason
from cumulus.datastores._transfer import TransferResult

__all__ = ["Backend", "CacheStats", "ContentCache", "CredentialProvider", "DataPath",
           "Datastore", "FileStat", "TransferResult", "backend_for", "check_relative",
           "direct_filesystem", "mount_unavailable_reason"]
