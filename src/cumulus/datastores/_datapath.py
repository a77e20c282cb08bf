"""DataPath: a path on a datastore, and how a run receives it (download, mount, upload, direct).

Example::

    p = ds.path("mnist").as_download()
    ScriptRunConfig(..., arguments=["--data", p])   # becomes a local path on the node
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

from cumulus.errors import ValidationError

MODES = ("direct", "download", "mount", "upload")


@dataclass(frozen=True)
class DataPath:
    """A path on a named datastore with a delivery mode; ``str()`` is a placeholder.

    - ``as_download(path_on_compute=None)``: copied to the node (content-cached) before start;
    - ``as_mount()``: a read-only FUSE mount, read lazily;
    - ``as_upload(overwrite=True)``: an output folder, committed atomically on success;
    - ``as_direct()``: the script gets the URL (argv) and storage options (environment).

    Each becomes a local path (or URL) in the script's arguments and in the environment
    variable ``CUMULUS_INPUT_<NAME>`` / ``CUMULUS_OUTPUT_<NAME>`` (``NAME`` from ``named()`` or
    the last path segment).

    Example::

        args = ["--data", ds.path("mnist").as_download(), "--out", ds.path("m").as_upload()]
    """

    datastore: str
    path_on_datastore: str
    mode: str = "direct"
    path_on_compute: str | None = None
    name: str | None = None
    overwrite: bool = True

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValidationError(f"DataPath mode {self.mode!r} is unknown; allowed: "
                                  f"{', '.join(MODES)}.")
        if self.path_on_compute is not None:
            _check_path_on_compute(self.path_on_compute)
        if self.name is not None and not (self.name.replace("_", "").isalnum()
                                          and self.name.isascii()):
            raise ValidationError(f"Data path name {self.name!r} must be ASCII letters, "
                                  "digits or '_'.")

    def as_download(self, path_on_compute: str | None = None) -> DataPath:
        """Copy to the node before the script starts (through the node's content cache)."""
        return replace(self, mode="download", path_on_compute=path_on_compute)

    def as_mount(self) -> DataPath:
        """Mount read-only with FUSE; files are fetched as the script reads them."""
        return replace(self, mode="mount", path_on_compute=None)

    def as_upload(self, overwrite: bool = True, path_on_compute: str | None = None,
                  ) -> DataPath:
        """An output folder the script fills; uploaded atomically when the run succeeds."""
        return replace(self, mode="upload", overwrite=overwrite, path_on_compute=path_on_compute)

    def as_direct(self) -> DataPath:
        """Give the script the URL; it reads with fsspec (see ``direct_filesystem``)."""
        return replace(self, mode="direct", path_on_compute=None)

    def named(self, name: str) -> DataPath:
        """Set the name used in ``CUMULUS_INPUT_<NAME>`` / ``CUMULUS_OUTPUT_<NAME>``."""
        return replace(self, name=name)

    @property
    def is_output(self) -> bool:
        return self.mode == "upload"

    @property
    def env_name(self) -> str:
        """``CUMULUS_INPUT_<NAME>`` or ``CUMULUS_OUTPUT_<NAME>``."""
        base = self.name or self.path_on_datastore.rstrip("/").rsplit("/", 1)[-1]
        base = base.split(".")[0] if not self.name and "." in base.lstrip(".") else base
        name = "".join(c if c.isalnum() and c.isascii() else "_"
                       for c in (base or self.datastore)).upper()
        return ("CUMULUS_OUTPUT_" if self.is_output else "CUMULUS_INPUT_") + name

    def to_dict(self) -> dict[str, Any]:
        return {"datastore": self.datastore, "path_on_datastore": self.path_on_datastore,
                "mode": self.mode, "path_on_compute": self.path_on_compute, "name": self.name,
                "overwrite": self.overwrite}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataPath:
        return cls(**data)

    def __str__(self) -> str:
        return placeholder(self)


def placeholder(dp: DataPath) -> str:
    return f"{{{{cumulus:{dp.mode}:{dp.datastore}:{dp.path_on_datastore}}}}}"


def _check_path_on_compute(path: str) -> None:
    p = os.fspath(path).replace("\\", "/")
    if not p or ".." in p.split("/") or "\x00" in p:
        raise ValidationError(f"path_on_compute {path!r} is invalid: give a folder name "
                              "relative to the run's working directory (no '..'), or an "
                              "absolute path on the node.")
