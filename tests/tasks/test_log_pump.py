"""The executor's log pump: output waits on disk, not in memory, and is handed out in order,
in bounded chunks cut after a newline, with nothing lost or split."""

from __future__ import annotations

import os
from pathlib import Path

from cumulus.tasks._process import LogPump


def test_output_is_shipped_from_disk_in_bounded_chunks(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "std_log.txt"
    log.parent.mkdir()
    log.write_text("an earlier attempt's output\n")       # appended to, never re-sent
    read_fd, write_fd = os.pipe()
    pump = LogPump(read_fd, log)
    pump.TAKE_LIMIT = 100
    pump.start()
    lines = [f"line {i:04d} é\n" for i in range(500)]     # 14 bytes each (é is two)
    with os.fdopen(write_fd, "w", encoding="utf-8") as out:
        for line in lines:
            out.write(line)
    pump.join(timeout=10)
    chunks = list(pump.drain())
    assert all(len(c.encode()) <= 100 for c in chunks)
    assert all(c.endswith("\n") for c in chunks)          # no line split across chunks
    assert "".join(chunks) == "".join(lines)              # in order, nothing lost
    assert pump.take() == ""
    assert log.read_text() == "an earlier attempt's output\n" + "".join(lines)
