"""Source snapshots: ignore files, limits, content addressing."""

from __future__ import annotations

from pathlib import Path

import pytest

from cumulus import Workspace, snapshot
from cumulus.errors import SnapshotError


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_gitignore_and_cumulusignore(tmp_path: Path) -> None:
    src = _tree(tmp_path / "src", {"train.py": "x", "data/big.csv": "1", "notes.md": "n",
                                   ".gitignore": "data/\n", ".cumulusignore": "*.md\n",
                                   "__pycache__/a.pyc": "c", ".git/HEAD": "h"})
    snap = snapshot.take_snapshot(src)
    assert sorted(f[0] for f in snap.files) == [".cumulusignore", ".gitignore", "train.py"]


def test_digest_depends_on_content_only(tmp_path: Path) -> None:
    a = _tree(tmp_path / "a", {"train.py": "print(1)"})
    b = _tree(tmp_path / "b", {"train.py": "print(1)"})
    assert snapshot.take_snapshot(a).digest == snapshot.take_snapshot(b).digest
    (b / "train.py").write_text("print(2)")
    assert snapshot.take_snapshot(a).digest != snapshot.take_snapshot(b).digest


def test_too_many_files_names_offenders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshot, "MAX_FILES", 5)
    src = _tree(tmp_path / "src", {f"junk/{i}.txt": "x" for i in range(8)} | {"t.py": "y"})
    with pytest.raises(SnapshotError, match=r"9 files.*junk/ \(8\).*cumulusignore"):
        snapshot.take_snapshot(src)


def test_too_large_names_biggest_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshot, "MAX_BYTES", 1000)
    src = _tree(tmp_path / "src", {"model.bin": "x" * 5000, "t.py": "y"})
    with pytest.raises(SnapshotError, match=r"Largest files: model.bin"):
        snapshot.take_snapshot(src)


def test_missing_source_directory(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="does not exist"):
        snapshot.take_snapshot(tmp_path / "nope")


def test_stored_once_and_materialized(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUMULUS_CACHE_DIR", str(tmp_path / "cache"))
    ws = Workspace.create("s", path=tmp_path / "ws")
    ds = ws.get_default_datastore()
    src = _tree(tmp_path / "src", {"train.py": "print(1)", "pkg/m.py": "x = 1"})
    snap = snapshot.take_snapshot(src)
    assert snapshot.upload_snapshot(snap, ds) is True
    assert snapshot.upload_snapshot(snapshot.take_snapshot(src), ds) is False
    dest = tmp_path / "run"
    snapshot.materialize_snapshot(snap.digest, ds, dest)
    assert (dest / "pkg" / "m.py").read_text() == "x = 1"
