"""Direct access from inside a run: the filesystem of an input passed ``as_direct()``.

The script gets the URL in its arguments and, in ``CUMULUS_INPUT_<NAME>_OPTIONS``, the
datastore's definition (storage options and the *name* of the credential's environment
variable, never its value); the secret is read from this process's environment.

Example::

    from cumulus.datastores import direct_filesystem
    fs, path = direct_filesystem("DATA")          # for an input named DATA
    with fs.open(f"{path}/train.csv") as fh:
        ...
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

from cumulus.errors import DatastoreError

if TYPE_CHECKING:
    import fsspec


def direct_filesystem(name: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """``(filesystem, path)`` of the direct input ``name`` (or its full variable name)."""
    from cumulus.datastores._datastore import Datastore

    var = name if name.startswith("CUMULUS_") else f"CUMULUS_INPUT_{name.upper()}"
    raw = os.environ.get(f"{var}_OPTIONS")
    if not raw:
        known = sorted(k[:-len("_OPTIONS")] for k in os.environ
                       if k.startswith("CUMULUS_INPUT_") and k.endswith("_OPTIONS"))
        raise DatastoreError(f"No direct input {var} in this process's environment. Direct "
                             f"inputs here: {', '.join(known) or '(none)'}. Pass the input "
                             "as ds.path(...).as_direct() (the default mode).")
    spec = json.loads(raw)
    ds = Datastore(None, spec["datastore"], spec["url"], spec["definition"])
    return ds.fs, ds.full_path(spec["path"])
