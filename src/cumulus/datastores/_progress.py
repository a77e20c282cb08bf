"""Progress of a transfer in bytes and files, as a rich progress bar on stderr.

Example::

    with TransferProgress("upload", files=10, total_bytes=4096, enabled=True) as progress:
        cb = progress.callback()          # an fsspec Callback for one file
        ...
        progress.file_done(cb, size)
"""

from __future__ import annotations

import threading
from typing import Any

from fsspec.callbacks import Callback


class FileCallback(Callback):
    """Forwards one file's byte counts (absolute or relative) to the shared progress."""

    def __init__(self, progress: TransferProgress) -> None:
        super().__init__()
        self.progress = progress
        self.reported = 0

    def call(self, hook_name: str | None = None, **kwargs: Any) -> None:
        delta = int(self.value or 0) - self.reported
        if delta > 0:
            self.reported += delta
            self.progress.advance(delta)

    def branched(self, path_1: str, path_2: str, **kwargs: Any) -> Callback:
        return self


class TransferProgress:
    """Totals of one transfer; draws a bar when ``enabled`` (never raises on display)."""

    def __init__(self, description: str, *, files: int, total_bytes: int,
                 enabled: bool) -> None:
        self.description = description
        self.files = files
        self.total_bytes = total_bytes
        self.bytes_done = 0
        self.files_done = 0
        self._lock = threading.Lock()
        self._bar: Any = None
        self._task: Any = None
        if enabled and files:
            self._bar = _make_bar()

    def __enter__(self) -> TransferProgress:
        if self._bar is not None:
            self._bar.start()
            self._task = self._bar.add_task(self.description, total=self.total_bytes or 1,
                                            files=self._files_text())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._refresh()
            self._bar.stop()

    def callback(self) -> FileCallback:
        return FileCallback(self)

    def advance(self, nbytes: int) -> None:
        with self._lock:
            self.bytes_done += nbytes
        self._refresh()

    def file_done(self, callback: FileCallback, size: int) -> None:
        """A file finished: count it, and any of its bytes the backend did not report."""
        rest = size - callback.reported
        with self._lock:
            self.files_done += 1
            self.bytes_done += max(rest, 0)
        callback.reported = max(size, callback.reported)
        self._refresh()

    def _files_text(self) -> str:
        return f"{self.files_done}/{self.files} files"

    def _refresh(self) -> None:
        if self._task is not None:
            self._bar.update(self._task, completed=self.bytes_done, files=self._files_text())


def _make_bar() -> Any:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                    TextColumn("{task.fields[files]}"), TransferSpeedColumn(),
                    TimeRemainingColumn(), console=Console(stderr=True), transient=False)
