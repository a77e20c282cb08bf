"""Symbolic links: a snapshot keeps links inside the source folder and refuses the others at
submit; outputs never follow a link that leads outside them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cumulus.errors import SnapshotError
from cumulus.snapshot import take_snapshot


def test_links_leading_outside_or_absolute_are_refused_naming_the_link(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text("print(1)\n")
    (tmp_path / "secret.txt").write_text("outside")
    os.symlink("../secret.txt", src / "data.txt")
    with pytest.raises(SnapshotError, match=r"link 'data.txt' -> '../secret.txt' .*leads "
                                            "outside the folder"):
        take_snapshot(src)
    (src / "data.txt").unlink()
    os.symlink(str(src / "train.py"), src / "abs.py")
    with pytest.raises(SnapshotError, match=r"link 'abs.py' .* is absolute"):
        take_snapshot(src)
    (src / "abs.py").unlink()
    os.symlink(str(tmp_path), src / "up")          # a folder link outside: refused too
    with pytest.raises(SnapshotError, match=r"link 'up'"):
        take_snapshot(src)


def test_links_inside_are_kept_as_links_including_folders(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "lib").mkdir(parents=True)
    (src / "lib" / "util.py").write_text("X = 1\n")
    os.symlink("lib", src / "lib_alias")
    os.symlink("lib/util.py", src / "util_link.py")
    snap = take_snapshot(src)
    names = [rel for rel, _size, _digest in snap.files]
    assert {"lib/util.py", "lib_alias", "util_link.py"} <= set(names)
    os.unlink(src / "lib_alias")
    os.symlink("lib/", src / "lib_alias")
    assert take_snapshot(src).digest != snap.digest  # a changed link target changes it


def test_outputs_never_follow_a_link_outside(workspace, script_dir) -> None:  # type: ignore[no-untyped-def]
    from cumulus import Experiment, ScriptRunConfig

    src = script_dir({"w.py": (
        "import os\n"
        "os.makedirs('outputs/sub', exist_ok=True)\n"
        "open('outputs/model.txt', 'w').write('m')\n"
        "os.symlink('/etc/hostname', 'outputs/host')\n"
        "os.symlink('/etc', 'outputs/etc')\n"
        "os.symlink('model.txt', 'outputs/latest.txt')\n")})
    run = Experiment(workspace, "links").submit(ScriptRunConfig(source_directory=str(src),
                                                                script="w.py"))
    run.wait_for_completion()
    files = set(run.get_file_names())
    assert {"outputs/model.txt", "outputs/latest.txt"} <= files
    assert not any(f.startswith(("outputs/host", "outputs/etc")) for f in files), files
    log = run.get_log()
    assert "outputs/host left out: a link leading outside ./outputs is never followed" in log
    assert "outputs/etc left out" in log
