"""Read-only FUSE mounts of a datastore path (real libfuse, real Azurite)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from cumulus.datastores import mount_unavailable_reason
from cumulus.datastores._mount import Mount
from cumulus.errors import DatastoreError


@pytest.fixture
def fuse_ok() -> None:
    reason = mount_unavailable_reason()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"FUSE unavailable in CI: {reason}; run .ci/setup_datastores.sh")
        pytest.skip(reason)


@pytest.mark.parametrize("kind", ["local", "az"])  # memory:// lives in one process only
def test_mount_reads_lazily_and_refuses_writes(fuse_ok, datastore_of, kind, tmp_path):
    ds = datastore_of(kind)
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    payload = os.urandom(3 * 1024 * 1024 + 17)  # several read blocks
    (src / "big.bin").write_bytes(payload)
    (src / "sub" / "s.txt").write_text("small")
    ds.upload(src, target_path="m", show_progress=False)
    ds.fs.pipe_file(ds.full_path("m/.cumulus-manifest.json"), b"{}")
    mp = tmp_path / "mp"
    with Mount(ds, "m", mp) as root:
        assert os.path.ismount(root)
        assert sorted(os.listdir(root)) == ["big.bin", "sub"]  # bookkeeping hidden
        assert (root / "big.bin").read_bytes() == payload
        assert (root / "sub" / "s.txt").read_text() == "small"
        with open(root / "big.bin", "rb") as fh:
            fh.seek(2 * 1024 * 1024 + 5)
            assert fh.read(10) == payload[2 * 1024 * 1024 + 5:2 * 1024 * 1024 + 15]
        with pytest.raises(OSError) as err:
            (root / "new.txt").write_text("x")
        assert err.value.errno == errno.EROFS
        with pytest.raises(OSError):
            os.remove(root / "big.bin")
        assert not (root / "missing").exists()
    assert not os.path.ismount(mp)
    assert ds.exists("m/big.bin")


def test_mount_of_a_missing_path_fails_clearly(fuse_ok, blob, tmp_path):
    with pytest.raises(DatastoreError, match="Cannot mount blob:nothing.*does not exist.*"
                                             "as_download"):
        Mount(blob, "nothing", tmp_path / "mp").start()
    assert not os.path.ismount(tmp_path / "mp")


def test_mount_unavailable_names_the_reason_and_suggests_download(blob, tmp_path):
    missing = str(tmp_path / "no-fuse-device")
    assert "does not exist on this node" in (mount_unavailable_reason(missing) or "")
    with pytest.raises(DatastoreError, match="Cannot mount blob:x on this node: .*"
                                             "no-fuse-device does not exist.*as_download"):
        Mount(blob, "x", Path(tmp_path / "mp"), device=missing).start()
