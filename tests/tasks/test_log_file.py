"""A run's output file: the child writes straight into it; output waits on disk, not in
memory, and is handed out in order, in bounded chunks cut after a newline, with nothing lost
and no character split."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cumulus.tasks._process import LogFile

WRITER = """
import sys
for i in range(500):
    sys.stdout.write(f"line {i:04d} \\u00e9\\n")   # 14 bytes each (the e-acute is two)
    if i % 7 == 0:
        sys.stderr.write(f"err {i:04d}\\n")
        sys.stderr.flush()
"""


def test_output_is_shipped_from_disk_in_bounded_chunks(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "std_log.txt"
    log.parent.mkdir()
    log.write_text("an earlier attempt's output\n")       # appended to, never re-sent
    out = LogFile(log)
    out.TAKE_LIMIT = 100
    proc = subprocess.Popen([sys.executable, "-c", WRITER], stdout=out.fd, stderr=out.fd)
    out.close()
    assert out.fd is None
    assert proc.wait(timeout=30) == 0
    chunks = list(out.drain())
    assert all(len(c.encode()) <= 100 for c in chunks)
    assert all(c.endswith("\n") for c in chunks)          # no line split across chunks
    text = "".join(chunks)
    lines = text.splitlines(keepends=True)
    assert [ln for ln in lines if ln.startswith("line")] == [
        f"line {i:04d} \u00e9\n" for i in range(500)]     # in order, nothing lost
    assert [ln for ln in lines if ln.startswith("err")] == [
        f"err {i:04d}\n" for i in range(0, 500, 7)]       # stderr too, into the same file
    assert out.take() == ""
    assert log.read_text() == "an earlier attempt's output\n" + text


def test_a_character_cut_by_a_chunk_waits_for_its_other_bytes(tmp_path: Path) -> None:
    log = tmp_path / "std_log.txt"
    out = LogFile(log)
    assert out.fd is not None
    data = "caf\u00e9 \u2603\n".encode()
    os.write(out.fd, data[:4])                   # "caf" and the first byte of the e-acute
    assert out.take() == "caf"
    os.write(out.fd, data[4:7])                  # the rest of it, and a snowman's first bytes
    assert out.take() == "\u00e9 "
    os.write(out.fd, data[7:])
    assert out.take() == "\u2603\n"
    out.close()
    out.shipped = 0
    out._decoder.reset()
    assert "".join(out.drain()) == "caf\u00e9 \u2603\n"


def test_an_unreadable_file_yields_nothing_rather_than_failing(tmp_path: Path) -> None:
    log = tmp_path / "std_log.txt"
    out = LogFile(log)
    out.close()
    log.unlink()                                   # the run's folder went away
    assert out.take() == ""
