"""``cumulus datastore register|list|upload|download`` as real subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from azurite import AZ_ENV


def cumulus(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from cumulus.cli import main; main()", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200"})


def test_register_list_upload_download_with_progress(fresh_workspace, container, azurite,
                                                     tmp_path):
    root = Path(fresh_workspace.root)
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.txt").write_text("alpha")
    (data / "sub" / "b.txt").write_text("beta")

    reg = cumulus(root, "datastore", "register", "blob", f"az://{container}/p",
                  "--credential-env", AZ_ENV)
    assert reg.returncode == 0, reg.stderr
    assert "registered and checked access to datastore blob" in reg.stdout

    listed = cumulus(root, "datastore", "list")
    assert listed.returncode == 0, listed.stderr
    assert "blob" in listed.stdout and f"auto from ${AZ_ENV}" in listed.stdout
    assert azurite.key not in listed.stdout + reg.stdout + reg.stderr

    up = cumulus(root, "datastore", "upload", str(data), "-d", "blob", "--target-path", "d")
    assert up.returncode == 0, up.stderr
    assert "2/2 files" in up.stderr  # the progress bar, on stderr
    assert "uploaded 2 files" in up.stdout

    again = cumulus(root, "datastore", "upload", str(data), "-d", "blob", "--target-path", "d")
    assert "Skipped 2 files that already exist" in again.stderr

    files = cumulus(root, "datastore", "list", "blob", "d")
    assert "d/a.txt" in files.stdout and "d/sub/b.txt" in files.stdout

    down = cumulus(root, "datastore", "download", "-d", "blob", "--prefix", "d",
                   "--target", str(tmp_path / "copy"))
    assert down.returncode == 0, down.stderr
    assert "downloaded 2 files" in down.stdout and "2/2 files" in down.stderr
    assert (tmp_path / "copy" / "d" / "sub" / "b.txt").read_text() == "beta"


def test_cli_errors_are_one_clear_line(fresh_workspace, tmp_path):
    root = Path(fresh_workspace.root)
    bad = cumulus(root, "datastore", "register", "x", "s3://bucket")
    assert bad.returncode == 1
    assert "Error: Datastore protocol 's3' needs the package 's3fs'" in bad.stderr
    assert "Traceback" not in bad.stderr
    escape = cumulus(root, "datastore", "upload", str(tmp_path), "--target-path", "../up")
    assert escape.returncode == 1 and "contains '..'" in escape.stderr
    missing = cumulus(root, "datastore", "download", "-d", "nope")
    assert missing.returncode == 1 and "Datastore 'nope' does not exist" in missing.stderr
