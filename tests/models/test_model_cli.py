"""``cumulus model ...`` run as a real subprocess, like a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-m", "cumulus.cli._entry", "model", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"cumulus model {' '.join(args)} failed:\n{proc.stdout}\n"
                             f"{proc.stderr}")
    return proc


@pytest.fixture
def cli_ws(mws, score_src, tmp_path: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "model.json").write_text(json.dumps({"version": "cli", "w": 4}))
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "score.py").write_text((score_src / "score.py").read_text())
    return mws.root, tmp_path


def test_register_list_show_download_delete(cli_ws) -> None:  # type: ignore[no-untyped-def]
    root, files = cli_ws
    out = cli("register", "cli-model", str(files / "model.json"), "--tag", "algo=lin",
              "--description", "from the CLI", cwd=root).stdout
    assert "Registered cli-model:1 (1 file(s)" in out
    cli("register", "cli-model", str(files / "model.json"), cwd=root)
    listing = cli("list", "--name", "cli-model", cwd=root).stdout
    assert "algo=lin" in listing and listing.count("cli-model") == 2
    assert "cli-model" in cli("list", "--tag", "algo", cwd=root).stdout
    assert "cli-model" not in cli("list", "--tag", "algo=svm", cwd=root).stdout
    shown = json.loads(cli("show", "cli-model:1", "--json", cwd=root).stdout)
    assert shown["description"] == "from the CLI" and shown["services"] == []
    assert json.loads(cli("show", "cli-model", "--json", cwd=root).stdout)["version"] == 2
    cli("download", "cli-model:1", "-o", str(files / "dl"), cwd=root)
    assert json.loads((files / "dl" / "model.json").read_text())["w"] == 4
    assert "Deleted model cli-model:1" in cli("delete", "cli-model:1", cwd=root).stdout

    missing = cli("show", "cli-modle", cwd=root, check=False)
    assert missing.returncode == 1 and "Did you mean 'cli-model'" in missing.stderr
    both = cli("delete", "cli-model:2", "--service", "x", cwd=root, check=False)
    assert both.returncode == 2 and "not both" in both.stderr
    no_version = cli("delete", "cli-model", cwd=root, check=False)
    assert no_version.returncode == 2 and "name the version" in no_version.stderr


def test_deploy_services_logs_keys_delete(cli_ws) -> None:  # type: ignore[no-untyped-def]
    root, files = cli_ws
    cli("register", "cli-dep", str(files / "model.json"), cwd=root)
    out = cli("deploy", "cli-svc", "--model", "cli-dep:1", "--entry-script", "score.py",
              "--source-dir", str(files / "src"), cwd=root).stdout
    assert "Service cli-svc (local, revision 1): Healthy" in out
    uri = next(line.split(": ", 1)[1] for line in out.splitlines()
               if line.startswith("scoring uri"))
    try:
        keys = cli("keys", "cli-svc", cwd=root).stdout
        primary = keys.split("primary: ")[1].split()[0]
        resp = httpx.post(uri, content=b'{"data": [2]}',
                          headers={"Authorization": f"Bearer {primary}"})
        assert resp.json()["y"] == [8]
        services = cli("services", cwd=root).stdout
        assert "cli-svc" in services and "Healthy" in services and "cli-dep:1" in services
        assert "listening on" in cli("logs", "cli-svc", "-n", "20", cwd=root).stdout
        in_use = cli("delete", "cli-dep:1", cwd=root, check=False)
        assert in_use.returncode == 1 and "used by service(s) 'cli-svc'" in in_use.stderr

        cli("register", "cli-dep", str(files / "model.json"), cwd=root)
        out = cli("deploy", "cli-svc", "--model", "cli-dep:2", "--entry-script", "score.py",
                  "--source-dir", str(files / "src"), "--update", cwd=root).stdout
        assert "revision 2" in out
        regen = cli("keys", "cli-svc", "--regen", "primary", cwd=root).stdout
        assert primary not in regen
    finally:
        assert "Deleted service cli-svc" in cli("delete", "--service", "cli-svc",
                                                cwd=root).stdout
    assert "cli-svc" not in cli("services", cwd=root).stdout
