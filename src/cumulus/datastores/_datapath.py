"""DataPath: a path on a datastore, and how a run receives it (download, mount, upload, direct)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from cumulus.errors import ValidationError

MODES = ("direct", "download", "mount", "upload")


@dataclass(frozen=True)
class DataPath:
    """A path on a named datastore with a delivery mode; ``str()`` is a placeholder.

    Example::

        p = ds.path("mnist").as_download()
        ScriptRunConfig(..., arguments=["--data", p])   # becomes a local path on the node
    """

    datastore: str
    path_on_datastore: str
    mode: str = "direct"
    path_on_compute: str | None = None
    name: str | None = None
    overwrite: bool = True

    def as_download(self, path_on_compute: str | None = None) -> DataPath:
        return replace(self, mode="download", path_on_compute=path_on_compute)

    def as_mount(self) -> DataPath:
        return replace(self, mode="mount")

    def as_upload(self, overwrite: bool = True) -> DataPath:
        return replace(self, mode="upload", overwrite=overwrite)

    def as_direct(self) -> DataPath:
        return replace(self, mode="direct")

    def named(self, name: str) -> DataPath:
        if not name.replace("_", "").isalnum():
            raise ValidationError(f"Data path name {name!r} must be letters, digits or '_'.")
        return replace(self, name=name)

    @property
    def is_output(self) -> bool:
        return self.mode == "upload"

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
