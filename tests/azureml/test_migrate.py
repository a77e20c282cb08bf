"""``cumulus migrate``: imports rewritten, the rest untouched, problems listed, never half done."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cumulus.azureml._migrate import migrate, rewrite_source

REPO = Path(__file__).resolve().parents[2]


def test_import_forms_are_rewritten_and_nothing_else() -> None:
    src = ("import os\n"
           "import azureml.core\n"
           "import azureml.core as core_mod, json\n"
           "from azureml.core import Workspace, Experiment\n"
           "from azureml.train.hyperdrive import (\n    choice,\n    uniform,\n)\n"
           "if True:\n    from azureml.core.compute import AmlCompute\n"
           "x = 'from azureml.core import Run'  # a string is not an import\n"
           "print(azureml.core.VERSION)\n")
    new, count, findings = rewrite_source(src, "f.py")
    assert count == 5 and findings == []
    assert new.splitlines() == [
        "import os",
        "import cumulus.azureml.core; from cumulus import azureml",
        "import cumulus.azureml.core as core_mod, json",
        "from cumulus.azureml.core import Workspace, Experiment",
        "from cumulus.azureml.train.hyperdrive import (", "    choice,", "    uniform,", ")",
        "if True:", "    from cumulus.azureml.core.compute import AmlCompute",
        "x = 'from azureml.core import Run'  # a string is not an import",
        "print(azureml.core.VERSION)"]
    scope: dict[str, object] = {}
    exec(compile(new, "f.py", "exec"), scope)  # the rewritten code imports and runs


def test_unknown_names_and_azure_only_calls_are_listed_with_lines() -> None:
    src = ("from azureml.core import Workspace, NoSuchThing\n"
           "from azureml.contrib.fancy import Gadget\n"
           "from azureml.core.webservice import AksWebservice\n"
           "cfg = AksWebservice.deploy_configuration(cpu_cores=1)\n")
    _, _, findings = rewrite_source(src, "nb.py")
    text = [str(f) for f in findings]
    assert any(t.startswith("nb.py:1:") and "NoSuchThing" in t for t in text), text
    assert any(t.startswith("nb.py:2:") and "azureml.contrib.fancy" in t for t in text), text
    assert any(t.startswith("nb.py:4:") and "LocalWebservice" in t for t in text), text


def test_a_file_with_a_syntax_error_is_left_untouched(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from azureml.core import Workspace\ndef broken(:\n")
    before = bad.read_bytes()
    [result] = migrate([str(bad)])
    assert result.error and "syntax error" in result.error and not result.changed
    assert bad.read_bytes() == before


def test_a_notebook_is_never_half_rewritten(tmp_path: Path) -> None:
    nb = {"cells": [{"cell_type": "code", "source": ["from azureml.core import Workspace\n"],
                     "metadata": {}, "outputs": [], "execution_count": None},
                    {"cell_type": "code", "source": ["def oops(:\n"], "metadata": {},
                     "outputs": [], "execution_count": None}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps(nb))
    before = path.read_bytes()
    [result] = migrate([str(tmp_path)])
    assert result.error and "cell 2" in result.error
    assert path.read_bytes() == before


def test_cli_dry_run_shows_the_diff_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "train.py"
    path.write_text("from azureml.core import Run\nrun = Run.get_context()\n")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run([sys.executable, "-m", "cumulus", "migrate", "--dry-run",
                           str(tmp_path)], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "+from cumulus.azureml.core import Run" in proc.stdout
    assert "would rewrite 1 import(s)" in proc.stdout
    assert path.read_text().startswith("from azureml.core import Run")
    proc = subprocess.run([sys.executable, "-m", "cumulus", "migrate", str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and path.read_text().startswith("from cumulus.azureml.core")


def test_cli_exits_1_when_something_is_not_mapped(tmp_path: Path) -> None:
    path = tmp_path / "deploy.py"
    path.write_text("from azureml.core.webservice import AksWebservice\n"
                    "AksWebservice.deploy_configuration()\n")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run([sys.executable, "-m", "cumulus", "migrate", str(path)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert f"{path}:2: AksWebservice has no meaning off Azure" in proc.stdout
