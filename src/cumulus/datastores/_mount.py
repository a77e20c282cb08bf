"""Read-only FUSE mounts of a datastore path (``as_mount()``), one subprocess per mount.

libfuse forks when it daemonizes, which silently ends the calling Python, so the FUSE loop runs
in a child process in the foreground, single-threaded; the parent waits until the mount point
is live and unmounts it with ``fusermount -u``. Reads go through a block reader that fetches the
next block in the background while the current one is consumed. Writes fail with EROFS: outputs
use ``as_upload()``.

Example::

    with Mount(ds, "mnist", Path("/tmp/m")) as mp:
        data = (mp / "train.csv").read_bytes()
"""

from __future__ import annotations

import ctypes.util
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cumulus._install import PACKAGE_ROOT
from cumulus.errors import DatastoreError

if TYPE_CHECKING:
    from cumulus.datastores._datastore import Datastore

READY_TIMEOUT = 30.0
FIRST_BLOCK = 1 << 20   # a small first block: a quick first byte
BLOCK = 8 << 20         # then blocks this big ...
READ_AHEAD = 2          # ... fetched this many ahead of the reader


def mount_unavailable_reason(device: str = "/dev/fuse") -> str | None:
    """Why this node cannot mount (None when it can)."""
    if not sys.platform.startswith("linux"):
        return f"FUSE mounts need Linux, and this node runs {sys.platform}"
    if not os.path.exists(device):
        return (f"{device} does not exist on this node (a container needs "
                "--device /dev/fuse --cap-add SYS_ADMIN)")
    if not os.access(device, os.R_OK | os.W_OK):
        return f"this user may not open {device} (add it to the 'fuse' group or run as root)"
    if fusermount() is None:
        return "fusermount is not installed (apt-get install fuse3)"
    if importlib.util.find_spec("fuse") is None:
        return "the fusepy package is not installed (pip install 'cumulus-ml[mount]')"
    if ctypes.util.find_library("fuse") is None:
        return "libfuse2 is not installed (apt-get install libfuse2)"
    return None


def fusermount() -> str | None:
    return shutil.which("fusermount") or shutil.which("fusermount3")


class Mount:
    """A read-only mount of ``ds:path`` at ``mountpoint`` for the life of the context."""

    def __init__(self, ds: Datastore, path: str, mountpoint: Path, *,
                 device: str = "/dev/fuse") -> None:
        self.ds = ds
        self.path = path
        self.mountpoint = Path(mountpoint)
        self.device = device
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.mountpoint.with_name(self.mountpoint.name + ".mount.log")

    def __enter__(self) -> Path:
        self.start()
        return self.mountpoint

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        reason = mount_unavailable_reason(self.device)
        where = f"{self.ds.name}:{self.path or '/'}"
        if reason:
            raise DatastoreError(f"Cannot mount {where} on this node: {reason}. Use "
                                 ".as_download() for this input instead.")
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        spec = {"name": self.ds.name, "url": self.ds.url, "definition": self.ds.definition,
                "path": self.path, "mountpoint": str(self.mountpoint)}
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [PACKAGE_ROOT, env.get("PYTHONPATH")]))
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cumulus.datastores._mount"], stdin=subprocess.PIPE,
                stdout=log, stderr=log, env=env, start_new_session=True)
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(spec).encode())
        self.proc.stdin.close()
        deadline = time.monotonic() + READY_TIMEOUT
        while not os.path.ismount(self.mountpoint):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise DatastoreError(f"Cannot mount {where} on this node: {self._why()}. Use "
                                     ".as_download() for this input instead.")
            time.sleep(0.02)

    def stop(self) -> None:
        """Unmount (lazily if busy) and end the FUSE process."""
        tool = fusermount()
        if tool and os.path.ismount(self.mountpoint):
            done = subprocess.run([tool, "-u", str(self.mountpoint)], capture_output=True)
            if done.returncode != 0:
                subprocess.run([tool, "-uz", str(self.mountpoint)], capture_output=True)
        proc, self.proc = self.proc, None
        if proc is not None:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def _why(self) -> str:
        if self.proc is not None and self.proc.poll() is None:
            return f"the mount was not ready within {READY_TIMEOUT:.0f} s"
        try:
            lines = [x for x in self.log.read_text(errors="replace").splitlines() if x.strip()]
        except OSError:
            lines = []
        return lines[-1][:400] if lines else "the FUSE process exited"


# the child process -----------------------------------------------------------------------
class BlockReader:
    """Reads one remote file in blocks, fetching the next block in the background."""

    def __init__(self, fs: Any, path: str, size: int, pool: Any, block: int = BLOCK,
                 first: int = FIRST_BLOCK, ahead: int = READ_AHEAD) -> None:
        self.fs, self.path, self.size, self.pool = fs, path, size, pool
        self.block, self.first, self.ahead = block, first, ahead
        self.blocks: dict[int, Any] = {}  # block index -> Future[bytes]

    def _bounds(self, i: int) -> tuple[int, int]:
        if i == 0:
            return 0, min(self.first, self.size)
        start = self.first + (i - 1) * self.block
        return start, min(start + self.block, self.size)

    def _index(self, offset: int) -> int:
        return 0 if offset < self.first else 1 + (offset - self.first) // self.block

    def _future(self, i: int) -> Any:
        if i not in self.blocks:
            start, end = self._bounds(i)
            self.blocks[i] = self.pool.submit(self.fs.cat_file, self.path, start, end)
        return self.blocks[i]

    def read(self, offset: int, length: int) -> bytes:
        out = []
        end = min(offset + length, self.size)
        while offset < end:
            i = self._index(offset)
            data = self._future(i).result()
            for j in range(i + 1, i + 1 + self.ahead):  # read ahead
                if self._bounds(j)[0] < self.size:
                    self._future(j)
            for old in [k for k in self.blocks if k < i - 1 or k > i + self.ahead]:
                self.blocks.pop(old)
            start = self._bounds(i)[0]
            chunk = data[offset - start:end - start]
            out.append(chunk)
            offset += len(chunk)
            if not chunk:
                break
        return b"".join(out)


def _operations(fs: Any, root: str) -> Any:
    import errno
    import stat
    from concurrent.futures import ThreadPoolExecutor

    from fuse import FuseOSError, LoggingMixIn, Operations  # noqa: F401

    from cumulus.datastores._transfer import is_internal

    pool = ThreadPoolExecutor(max_workers=READ_AHEAD + 2)
    uid, gid, now = os.getuid(), os.getgid(), time.time()

    class ReadOnly(Operations):
        def __init__(self) -> None:
            self.infos: dict[str, dict[str, Any]] = {}
            self.readers: dict[int, BlockReader] = {}
            self.next_fh = 1

        def _full(self, path: str) -> str:
            return root if path == "/" else f"{root}/{path.lstrip('/')}"

        def _info(self, path: str) -> dict[str, Any]:
            if path not in self.infos:
                try:
                    self.infos[path] = fs.info(self._full(path))
                except (FileNotFoundError, OSError):
                    raise FuseOSError(errno.ENOENT) from None
            return self.infos[path]

        def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
            info = {"type": "directory"} if path == "/" else self._info(path)
            is_dir = info.get("type") == "directory"
            mtime = _mtime(info) or now
            return {"st_mode": (stat.S_IFDIR | 0o555) if is_dir else (stat.S_IFREG | 0o444),
                    "st_size": 0 if is_dir else int(info.get("size") or 0),
                    "st_nlink": 2 if is_dir else 1, "st_uid": uid, "st_gid": gid,
                    "st_mtime": mtime, "st_ctime": mtime, "st_atime": mtime}

        def readdir(self, path: str, fh: int) -> list[str]:
            names = [".", ".."]
            for info in fs.ls(self._full(path), detail=True):
                name = info["name"].rstrip("/").rsplit("/", 1)[-1]
                if not name or is_internal(name):
                    continue
                self.infos[f"{path.rstrip('/')}/{name}"] = info
                names.append(name)
            return names

        def open(self, path: str, flags: int) -> int:
            if flags & (os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC):
                raise FuseOSError(errno.EROFS)
            info = self._info(path)
            fh, self.next_fh = self.next_fh, self.next_fh + 1
            self.readers[fh] = BlockReader(fs, self._full(path), int(info.get("size") or 0),
                                           pool)
            return fh

        def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
            try:
                return self.readers[fh].read(offset, size)
            except Exception:
                raise FuseOSError(errno.EIO) from None

        def release(self, path: str, fh: int) -> int:
            self.readers.pop(fh, None)
            return 0

        def statfs(self, path: str) -> dict[str, int]:
            return {"f_bsize": 4096, "f_frsize": 4096, "f_blocks": 0, "f_bfree": 0,
                    "f_bavail": 0, "f_namemax": 1024}

    return ReadOnly()


def _mtime(info: dict[str, Any]) -> float | None:
    value = info.get("last_modified") or info.get("mtime") or info.get("created")
    if value is None:
        return None
    return value.timestamp() if hasattr(value, "timestamp") else float(value)


def _unmount_when_orphaned(mountpoint: str) -> None:
    """If the process that asked for the mount dies, unmount (which ends the FUSE loop)."""
    import threading

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        tool = fusermount()
        if tool:
            subprocess.run([tool, "-uz", mountpoint], capture_output=True)

    threading.Thread(target=watch, daemon=True).start()


def main() -> int:
    """Child entry: read the spec on stdin, mount, serve until unmounted."""
    from fuse import FUSE

    from cumulus.datastores._datastore import Datastore

    spec = json.loads(sys.stdin.read())
    ds = Datastore(None, spec["name"], spec["url"], spec["definition"])
    root = ds.full_path(spec["path"])
    try:
        if not ds.fs.exists(root):
            print(f"{ds.name}:{spec['path']} does not exist on the datastore", file=sys.stderr)
            return 2
    except Exception as exc:  # report, redacted, for the parent's error message
        text = str(exc) if isinstance(exc, DatastoreError) else f"{type(exc).__name__}: {exc}"
        print(ds.redact(text), file=sys.stderr)
        return 2
    _unmount_when_orphaned(spec["mountpoint"])
    FUSE(_operations(ds.fs, root), spec["mountpoint"], foreground=True, nothreads=True,
         ro=True, fsname=f"cumulus:{ds.name}", max_read=1 << 20, max_readahead=1 << 20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
