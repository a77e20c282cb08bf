"""Azure Blob Storage through adlfs (``az://container/prefix``, ``abfs://``, ``abfss://``).

Transfers talk to adlfs's async blob service client directly so each upload and download
reports the ETag and Content-MD5 the service returned, without a second listing.

Example::

    Datastore.register(ws, "blob", "az://data/cumulus",
                       credential_env="AZURE_STORAGE_CONNECTION_STRING")
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import uuid
from typing import TYPE_CHECKING, Any

from cumulus.datastores._backends import Backend, FileStat, MiB, first_line
from cumulus.errors import DatastoreError, ValidationError

if TYPE_CHECKING:
    import fsspec

CONTAINER_NAME = re.compile(r"^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}


class AzureBlobBackend(Backend):
    """Block blobs in one container; a datastore is a container plus an optional prefix."""

    protocols = ("az", "abfs", "abfss")
    large_file = 16 * MiB
    block_size = 16 * MiB  # large files move as blocks/ranges of this size ...
    block_concurrency = 2  # ... this many at a time (measured on Azurite: more does not help)

    def root(self) -> str:
        root = super().root()
        container = root.split("/", 1)[0]
        if container and container != "$root" and not CONTAINER_NAME.match(container):
            raise ValidationError(
                f"Azure container name {container!r} in {self.url!r} is invalid: use 3-63 "
                "lowercase letters, digits and single hyphens, starting and ending with a "
                "letter or digit, e.g. 'az://training-data/prefix'.")
        if not container:
            raise ValidationError(f"{self.url!r} names no container; use "
                                  "'az://<container>/<optional prefix>'.")
        return root

    def check_access(self, fs: fsspec.AbstractFileSystem, root: str) -> None:
        from fsspec.asyn import sync

        container = root.split("/", 1)[0]
        try:
            sync(fs.loop, _probe_container, fs, container)
        except Exception as exc:
            raise DatastoreError(self.describe_error(exc, container=container)) from None

    def identity(self, fs: fsspec.AbstractFileSystem) -> str:
        return f"az:{getattr(fs, 'account_url', None) or fs.service_client.url}"

    def stat(self, path: str, info: dict[str, Any]) -> FileStat:
        md5 = (info.get("content_settings") or {}).get("content_md5")
        return FileStat(path, int(info.get("size") or 0), _etag(info.get("etag")),
                        bytes(md5).hex() if md5 else None)

    # transfers ---------------------------------------------------------------------------
    async def aput(self, fs: Any, lpath: str, rpath: str, size: int,
                   callback: Any) -> FileStat | None:
        from adlfs.spec import make_callback

        if size >= self.large_file:
            return await self._aput_blocks(fs, lpath, rpath, size, callback)
        container, blob, _ = fs.split_path(rpath)
        with open(lpath, "rb") as fh:
            async with fs.service_client.get_blob_client(container, blob) as bc:
                resp = await bc.upload_blob(
                    fh, length=size, overwrite=True, metadata={"is_directory": "false"},
                    raw_response_hook=make_callback("upload_stream_current", callback))
        md5 = resp.get("content_md5")
        return FileStat(rpath, size, _etag(resp.get("etag")), bytes(md5).hex() if md5 else None)

    async def _aput_blocks(self, fs: Any, lpath: str, rpath: str, size: int,
                           callback: Any) -> FileStat:
        """A large file as blocks staged in parallel, then one commit (atomic visibility)."""
        from azure.storage.blob import BlobBlock

        container, blob, _ = fs.split_path(rpath)
        token = uuid.uuid4().hex[:8]
        sem = asyncio.Semaphore(self.block_concurrency)
        fd = os.open(lpath, os.O_RDONLY)
        try:
            async with fs.service_client.get_blob_client(container, blob) as bc:
                async def stage(i: int, offset: int) -> str:
                    async with sem:
                        data = os.pread(fd, self.block_size, offset)
                        block_id = base64.b64encode(f"{token}-{i:08d}".encode()).decode()
                        await bc.stage_block(block_id, data, length=len(data))
                        callback.relative_update(len(data))
                        return block_id

                ids = await asyncio.gather(*(stage(i, off) for i, off in
                                             enumerate(range(0, size, self.block_size))))
                resp = await bc.commit_block_list([BlobBlock(block_id=b) for b in ids],
                                                  metadata={"is_directory": "false"})
        finally:
            os.close(fd)
        return FileStat(rpath, size, _etag(resp.get("etag")))

    async def aget(self, fs: Any, rpath: str, lpath: str, size: int,
                   callback: Any) -> FileStat | None:
        from adlfs.spec import make_callback

        if size >= self.large_file:
            return await self._aget_ranges(fs, rpath, lpath, callback)
        container, blob, version = fs.split_path(rpath)
        async with fs.service_client.get_blob_client(container, blob.rstrip("/")) as bc:
            stream = await bc.download_blob(
                raw_response_hook=make_callback("download_stream_current", callback),
                version_id=version)
            with open(lpath, "wb") as fh:
                await stream.readinto(fh)
        return _download_stat(rpath, stream.properties)

    async def _aget_ranges(self, fs: Any, rpath: str, lpath: str, callback: Any) -> FileStat:
        """A large file as parallel range reads of one version (ETag-pinned)."""
        from azure.core import MatchConditions

        container, blob, version = fs.split_path(rpath)
        sem = asyncio.Semaphore(self.block_concurrency)
        fd = os.open(lpath, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            async with fs.service_client.get_blob_client(container, blob) as bc:
                first = await bc.download_blob(offset=0, length=self.block_size,
                                               version_id=version)
                props = first.properties
                total = int(str(props.content_range).rsplit("/", 1)[-1])
                os.ftruncate(fd, total)

                async def part(offset: int, stream: Any = None) -> None:
                    async with sem:
                        if stream is None:
                            stream = await bc.download_blob(
                                offset=offset, length=min(self.block_size, total - offset),
                                version_id=version, etag=props.etag,
                                match_condition=MatchConditions.IfNotModified)
                        data = await stream.readall()
                        os.pwrite(fd, data, offset)
                        callback.relative_update(len(data))

                await asyncio.gather(part(0, first), *(
                    part(off) for off in range(self.block_size, total, self.block_size)))
        finally:
            os.close(fd)
        return _download_stat(rpath, props, size=total)

    def move_files(self, fs: Any, pairs: list[tuple[str, str]]) -> None:
        """Server-side copies (waiting out pending ones), then deletes of the sources."""
        from fsspec.asyn import sync

        sync(fs.loop, _amove, fs, pairs)
        self.after_writes(fs, "")

    # errors ------------------------------------------------------------------------------
    def is_transient(self, exc: BaseException) -> bool:
        from azure.core.exceptions import (
            HttpResponseError,
            ServiceRequestError,
            ServiceResponseError,
        )

        if isinstance(exc, ServiceRequestError | ServiceResponseError):
            return True
        if isinstance(exc, HttpResponseError):
            return getattr(exc, "status_code", None) in TRANSIENT_STATUS
        return super().is_transient(exc)

    def describe_error(self, exc: BaseException, container: str | None = None) -> str:
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ResourceNotFoundError,
            ServiceRequestError,
        )

        code = getattr(exc, "error_code", None) or ""
        code = getattr(code, "value", code)
        status = getattr(exc, "status_code", None)
        where = f"Azure datastore {self.url!r}"
        if isinstance(exc, ResourceNotFoundError) and "Container" in str(code or exc):
            return (f"{where}: container {container!r} does not exist in this storage account. "
                    "Create it first (e.g. `az storage container create -n NAME`), or fix the "
                    "URL.")
        if isinstance(exc, ClientAuthenticationError) or status in (401, 403):
            return (f"{where}: the storage account rejected the credential (HTTP {status} "
                    f"{code}). Check the value of the credential's environment variable (an "
                    "account key, SAS token or connection string for this account) and its "
                    "permissions.")
        if isinstance(exc, ServiceRequestError):
            return (f"{where}: cannot reach the storage endpoint ({first_line(exc)}). Check "
                    "the account name or BlobEndpoint and the network.")
        if isinstance(exc, ValueError) and "onnection string" in str(exc):
            return (f"{where}: the connection string is malformed ({first_line(exc)}). Check "
                    "the value of the credential's environment variable.")
        if isinstance(exc, HttpResponseError):
            return f"{where}: HTTP {status} {code}: {first_line(exc)}"
        return f"{where}: {type(exc).__name__}: {first_line(exc)}"


async def _probe_container(fs: Any, container: str) -> None:
    """List at most one blob: proves the credential and that the container exists."""
    client = fs.service_client.get_container_client(container)
    async for page in client.list_blobs(results_per_page=1).by_page():
        async for _blob in page:
            break
        break


async def _amove(fs: Any, pairs: list[tuple[str, str]]) -> None:
    sem = asyncio.Semaphore(32)

    async def one(src: str, dst: str) -> None:
        c1, b1, _ = fs.split_path(src)
        c2, b2, _ = fs.split_path(dst)
        async with sem, fs.service_client.get_blob_client(c1, b1) as source, \
                fs.service_client.get_blob_client(c2, b2) as target:
            status = (await target.start_copy_from_url(source.url)).get("copy_status")
            while status == "pending":
                await asyncio.sleep(0.2)
                status = (await target.get_blob_properties()).copy.status
            if status != "success":
                raise DatastoreError(f"Copying {src!r} to {dst!r} ended {status!r}.")
            await source.delete_blob()

    await asyncio.gather(*(one(a, b) for a, b in pairs))


def _download_stat(path: str, props: Any, size: int | None = None) -> FileStat:
    settings = props.content_settings
    md5 = settings.content_md5 if settings else None
    return FileStat(path, int(size if size is not None else props.size), _etag(props.etag),
                    bytes(md5).hex() if md5 else None)


def _etag(value: Any) -> str | None:
    return str(value).strip('"') if value else None
