"""Storage backends: one small class per kind of store, found by URL scheme.

A backend knows how to open its fsspec filesystem, check access with a clear error, move one
file each way (reporting its ETag when the store has one) and commit a staged folder. Backends
that need an optional package are registered as dotted paths and imported on first use; a
missing package gives the install hint. Any other protocol fsspec knows works through
:class:`FsspecBackend`.

Example::

    backend = backend_for("az://data/prefix")      # AzureBlobBackend
    fs = backend.open({"connection_string": ...})
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qs, urlparse

from cumulus.errors import DatastoreError, MissingDependencyError, ValidationError, did_you_mean

if TYPE_CHECKING:
    import fsspec

# protocol -> "module:Class"; imported only when a datastore of that kind is used
BACKENDS: dict[str, str] = {
    "file": "cumulus.datastores._backends:LocalBackend",
    "local": "cumulus.datastores._backends:LocalBackend",
    "memory": "cumulus.datastores._backends:MemoryBackend",
    "az": "cumulus.datastores._azure:AzureBlobBackend",
    "abfs": "cumulus.datastores._azure:AzureBlobBackend",
    "abfss": "cumulus.datastores._azure:AzureBlobBackend",
}
#: a step input of local files up to this size in all is fingerprinted by their bytes for step
#: reuse (a larger one by size and mtime)
CONTENT_HASH_LIMIT = 1 << 30
# protocol -> (package, cumulus extra) for the install hint
INSTALL_HINTS: dict[str, tuple[str, str | None]] = {
    "az": ("adlfs", "azure"), "abfs": ("adlfs", "azure"), "abfss": ("adlfs", "azure"),
    "s3": ("s3fs", "s3"), "s3a": ("s3fs", "s3"), "gs": ("gcsfs", None), "gcs": ("gcsfs", None),
    "sftp": ("paramiko", None), "hdfs": ("pyarrow", None),
}
MiB = 1 << 20


@dataclass(frozen=True)
class FileStat:
    """One stored file: its filesystem path, size, ETag (or a size/mtime signature), MD5."""

    path: str
    size: int
    etag: str | None = None
    md5: str | None = None


def protocol_of(url: str) -> str:
    scheme = urlparse(url).scheme
    return scheme if scheme and len(scheme) > 1 else "file"


class Backend:
    """How Cumulus talks to one kind of store through fsspec.

    Subclasses override what their store does differently; the defaults work for any fsspec
    filesystem.
    """

    protocols: ClassVar[tuple[str, ...]] = ()
    atomic_dir_rename: ClassVar[bool] = False  # can a staged folder be renamed into place?
    large_file: ClassVar[int] = 32 * MiB       # files this big get their own transfer lane

    def __init__(self, url: str) -> None:
        self.url = url
        self.protocol = protocol_of(url)

    # opening -----------------------------------------------------------------------------
    def filesystem_class(self) -> type[fsspec.AbstractFileSystem]:
        import fsspec

        try:
            return fsspec.get_filesystem_class(self.protocol)
        except ImportError:
            package, extra = INSTALL_HINTS.get(self.protocol, (f"{self.protocol}fs", None))
            raise MissingDependencyError(f"Datastore protocol {self.protocol!r}", package,
                                         extra) from None

    def root(self) -> str:
        cls = self.filesystem_class()
        return str(cls._strip_protocol(self.url)).rstrip("/")

    def url_options(self) -> dict[str, Any]:
        """Storage options the URL itself carries (e.g. the account of an abfs URL)."""
        return dict(self.filesystem_class()._get_kwargs_from_urls(self.url) or {})

    def open(self, options: dict[str, Any]) -> fsspec.AbstractFileSystem:
        return self.filesystem_class()(**{**self.url_options(), **options})

    def check_access(self, fs: fsspec.AbstractFileSystem, root: str) -> None:
        """Raise DatastoreError unless ``root`` can be listed."""
        try:
            fs.ls(root, detail=False)
        except FileNotFoundError:
            raise DatastoreError(f"{self.url!r} does not exist. Create the bucket or folder "
                                 "first, or pass skip_validation=True.") from None

    def identity(self, fs: fsspec.AbstractFileSystem) -> str:
        """Which store this is, for node-local cache keys."""
        return self.protocol

    # metadata ----------------------------------------------------------------------------
    def stat(self, path: str, info: dict[str, Any]) -> FileStat:
        for key in ("etag", "ETag", "md5Hash", "generation", "mtime", "LastModified",
                    "last_modified", "updated", "created"):
            if info.get(key) is not None:
                return FileStat(path, int(info.get("size") or 0), f"{key}:{info[key]}")
        return FileStat(path, int(info.get("size") or 0))

    def content_marker(self, path: str, info: dict[str, Any]) -> str | None:
        """A marker of the file's bytes where the store's own metadata changes without them
        (a rewrite with the same bytes); None to keep the store's ETag, MD5 or mtime."""
        return None

    def tree(self, fs: fsspec.AbstractFileSystem, path: str) -> dict[str, FileStat]:
        """Files under ``path`` by relative name; ``{"": stat}`` when ``path`` is a file."""
        path = path.rstrip("/")
        try:
            found = fs.find(path, detail=True)
        except FileNotFoundError:
            found = {}
        prefix = path + "/"
        out = {}
        if isinstance(found, dict):
            for name, info in found.items():
                if info.get("type") == "directory" or not name.startswith(prefix):
                    continue
                out[name[len(prefix):]] = self.stat(name, info)
        if out:
            return out
        try:
            info = fs.info(path)
        except (FileNotFoundError, OSError):
            return {}
        return {"": self.stat(path, info)} if info.get("type") == "file" else {}

    # transfers ---------------------------------------------------------------------------
    def put(self, fs: fsspec.AbstractFileSystem, lpath: str, rpath: str, size: int,
            callback: Any) -> FileStat | None:
        fs.put_file(lpath, rpath, callback=callback)
        return None

    def get(self, fs: fsspec.AbstractFileSystem, rpath: str, lpath: str, size: int,
            callback: Any) -> FileStat | None:
        fs.get_file(rpath, lpath, callback=callback)
        return None

    def adopt(self, fs: fsspec.AbstractFileSystem, lpath: str, rpath: str) -> bool:
        """Give ``rpath`` the bytes of the finished local file ``lpath`` without copying them,
        where this store can; False: the caller puts the file instead. The caller never
        writes to ``lpath`` again. Default: never."""
        return False

    async def aput(self, fs: Any, lpath: str, rpath: str, size: int,
                   callback: Any) -> FileStat | None:
        await fs._put_file(lpath, rpath, callback=callback)
        return None

    async def aget(self, fs: Any, rpath: str, lpath: str, size: int,
                   callback: Any) -> FileStat | None:
        await fs._get_file(rpath, lpath, callback=callback)
        return None

    def move_files(self, fs: fsspec.AbstractFileSystem, pairs: list[tuple[str, str]]) -> None:
        """Move files within the store (copy then delete where there is no rename)."""
        if pairs:
            fs.copy([a for a, _ in pairs], [b for _, b in pairs])
            fs.rm([a for a, _ in pairs])

    def delete_files(self, fs: fsspec.AbstractFileSystem, paths: list[str]) -> None:
        if paths:
            fs.rm(paths)

    def is_transient(self, exc: BaseException) -> bool:
        return isinstance(exc, ConnectionError | TimeoutError)

    def describe_error(self, exc: BaseException) -> str:
        return f"{type(exc).__name__}: {first_line(exc)}"

    def after_writes(self, fs: fsspec.AbstractFileSystem, path: str) -> None:
        """Called after a batch of writes under ``path`` (drop stale listing caches)."""
        fs.invalidate_cache(path)


class LocalBackend(Backend):
    """A folder on this machine (or a shared mount)."""

    protocols = ("file", "local")
    atomic_dir_rename = True

    def root(self) -> str:
        parsed = urlparse(self.url)
        if self.url.startswith(("file:", "local:")):
            return os.path.abspath(parsed.path or parsed.netloc).rstrip("/") or "/"
        return os.path.abspath(self.url).rstrip("/") or "/"

    def url_options(self) -> dict[str, Any]:
        return {}

    def open(self, options: dict[str, Any]) -> fsspec.AbstractFileSystem:
        return self.filesystem_class()(**{"auto_mkdir": True, **options})

    def check_access(self, fs: fsspec.AbstractFileSystem, root: str) -> None:
        try:
            os.makedirs(root, exist_ok=True)
        except OSError as exc:
            raise DatastoreError(f"Cannot create the datastore folder {root!r}: "
                                 f"{exc.strerror}. Choose a writable path.") from None
        if not os.access(root, os.R_OK | os.W_OK | os.X_OK):
            raise DatastoreError(f"The datastore folder {root!r} is not readable and writable "
                                 "by this user. Fix its permissions or choose another path.")

    def identity(self, fs: fsspec.AbstractFileSystem) -> str:
        return "file"

    def stat(self, path: str, info: dict[str, Any]) -> FileStat:
        size = int(info.get("size") or 0)
        return FileStat(path, size, f"{int(float(info.get('mtime') or 0) * 1e6)}-{size}")

    def content_marker(self, path: str, info: dict[str, Any]) -> str | None:
        """SHA-256 of a file up to ``CONTENT_HASH_LIMIT`` bytes (remembered by path, size,
        mtime and inode, so an unchanged file is read once): a folder has no ETag, and
        copying the same data in again moves every mtime."""
        if info.get("type") != "file" or int(info.get("size") or 0) > CONTENT_HASH_LIMIT:
            return None
        from cumulus._hashing import stored_file_digest

        try:
            return f"sha256:{stored_file_digest(path)}"
        except OSError:        # gone since it was listed: the listing's marker says so
            return None

    def put(self, fs: fsspec.AbstractFileSystem, lpath: str, rpath: str, size: int,
            callback: Any) -> FileStat | None:
        os.makedirs(os.path.dirname(rpath), exist_ok=True)
        tmp = f"{rpath}.cumulus-part-{os.getpid()}"
        shutil.copyfile(lpath, tmp)
        os.replace(tmp, rpath)
        return self.stat(rpath, fs.info(rpath))

    def adopt(self, fs: fsspec.AbstractFileSystem, lpath: str, rpath: str) -> bool:
        """A hard link where both paths are on one filesystem: a run's finished outputs and
        logs are filed without copying a byte (False across filesystems, or where links are
        not allowed)."""
        tmp = f"{rpath}.cumulus-part-{os.getpid()}"
        try:
            if os.path.exists(rpath) and os.path.samefile(lpath, rpath):
                return True          # filed already (renaming a link onto itself is a no-op)
            os.makedirs(os.path.dirname(rpath), exist_ok=True)
            os.link(lpath, tmp)
            os.replace(tmp, rpath)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            return False
        return True

    def get(self, fs: fsspec.AbstractFileSystem, rpath: str, lpath: str, size: int,
            callback: Any) -> FileStat | None:
        shutil.copyfile(rpath, lpath)
        return self.stat(rpath, fs.info(rpath))

    def after_writes(self, fs: fsspec.AbstractFileSystem, path: str) -> None:
        pass


class MemoryBackend(Backend):
    """fsspec's in-process memory filesystem: for tests and notebooks, not for runs."""

    protocols = ("memory",)

    def check_access(self, fs: fsspec.AbstractFileSystem, root: str) -> None:
        pass

    def stat(self, path: str, info: dict[str, Any]) -> FileStat:
        size = int(info.get("size") or 0)
        return FileStat(path, size, f"{info.get('created')}-{size}")


class FsspecBackend(Backend):
    """Any other protocol fsspec knows (s3, gs, sftp, ...), with fsspec's defaults."""


def backend_class(protocol: str) -> type[Backend]:
    """The backend for ``protocol``: registered, else generic if fsspec knows it."""
    target = BACKENDS.get(protocol)
    if target is not None:
        module, _, name = target.partition(":")
        return getattr(importlib.import_module(module), name)
    from fsspec.registry import known_implementations, registry

    if protocol in known_implementations or protocol in registry:
        return FsspecBackend
    known = sorted({*BACKENDS, *known_implementations})
    raise ValidationError(
        f"Unknown datastore protocol {protocol!r}. Use a URL fsspec understands, e.g. "
        "'az://container/prefix', 's3://bucket/prefix', 'file:///data' or 'memory://x'."
        + did_you_mean(protocol, known) + f" Known protocols: {', '.join(known[:40])}, ...")


def backend_for(url: str) -> Backend:
    return backend_class(protocol_of(url))(url)


def check_url(name: str, url: str) -> None:
    """Reject URLs that carry secrets (user:password@, ?sig=...); never echoes them."""
    parsed = urlparse(url)
    query = {k.lower() for k in parse_qs(parsed.query)}
    if parsed.password or query & {"sig", "token", "secret", "password", "key"}:
        raise ValidationError(
            f"The URL of datastore {name!r} embeds a credential, and secrets are never stored. "
            "Register the bare URL and pass credential_env='VARIABLE' instead.")


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else ""
