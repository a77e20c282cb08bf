"""SDK v1 code in the style of its public samples, migrated with ``cumulus migrate`` and then
run end to end as it is: no line changed but the imports (and the SDK install line)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLES = Path(__file__).with_name("samples")
pytestmark = [pytest.mark.integration, pytest.mark.slow]
IMPORT = re.compile(r"^\s*(from\s+\S+\s+import\b|import\s+|\)|\s*[A-Za-z_, ]+,?\s*$)")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO / "src")}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The samples copied into a fresh folder and migrated with the CLI."""
    root = tmp_path_factory.mktemp("sdk") / "project"
    shutil.copytree(SAMPLES, root)
    proc = subprocess.run([sys.executable, "-m", "cumulus", "migrate", "."], cwd=root,
                          env=_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 problem(s)" in proc.stdout, proc.stdout
    yield root
    _stop_everything(root)


def _stop_everything(root: Path) -> None:
    if not (root / "cumulus.yaml").exists():
        return
    from cumulus import Workspace
    from cumulus.compute import list_targets
    from cumulus.flows import stop_services

    ws = Workspace.from_config(root)
    for target in list_targets(ws).values():
        target.backend.stop()
    stop_services(ws)


def _changed_lines(before: str, after: str) -> list[str]:
    import difflib

    return [ln[1:] for ln in difflib.unified_diff(before.splitlines(), after.splitlines(),
                                                  lineterm="", n=0)
            if ln.startswith("-") and not ln.startswith("---")]


def test_migrate_changes_only_imports(project: Path) -> None:
    changed = total = 0
    for path in sorted(SAMPLES.rglob("*.py")):
        before = path.read_text()
        after = (project / path.relative_to(SAMPLES)).read_text()
        lines = _changed_lines(before, after)
        assert all("azureml" in ln for ln in lines), lines
        assert ("from azureml" in before) == ("cumulus.azureml" in after)
        changed += len(lines)
        total += len(before.splitlines())
    nb = json.loads((project / "dataset_training.ipynb").read_text())
    code = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert "from cumulus.azureml.core import Workspace" in code
    assert "# cumulus migrate: the SDK is Cumulus here: !pip install" in code
    assert "%matplotlib inline" in code  # magics untouched
    print(f"changed {changed} of {total} lines (imports only)")


def _run(project: Path, script: str) -> str:
    proc = subprocess.run([sys.executable, script], cwd=project, env=_env(),
                          capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "SAMPLE OK" in proc.stdout, out[-6000:]
    return out


def test_train_on_amlcompute(project: Path) -> None:
    out = _run(project, "train_on_amlcompute.py")
    assert "Creating a new compute target" in out
    # the second time the cluster exists: found, not created
    assert "Found existing compute target" in _run(project, "train_on_amlcompute.py")


def test_hyperdrive(project: Path) -> None:
    out = _run(project, "hyperdrive_sklearn.py")
    assert "Best Run Id:" in out and "--regularization" in out


def test_pipeline_with_data_dependency_publish_and_schedule(project: Path) -> None:
    out = _run(project, "pipeline_with_data.py")
    assert "train accuracy:" in out


def test_hyperdrive_step_with_inputs_and_the_best_model_as_output(project: Path) -> None:
    out = _run(project, "hyperdrive_pipeline.py")
    assert "best trial:" in out       # the sample asserts the model reached the next step


def test_batch_scoring_with_parallel_run_step(project: Path) -> None:
    out = _run(project, "batch_scoring.py")
    assert "24 predictions" in out


def test_deploy_to_local_webservice(project: Path) -> None:
    _run(project, "deploy_local.py")


def test_dataset_notebook(project: Path) -> None:
    """The notebook's code cells in order, as a kernel would run them (magics skipped)."""
    nb = json.loads((project / "dataset_training.ipynb").read_text())
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    code = "\n".join(re.sub(r"(?m)^(\s*)[%!].*$", r"\1pass", c) for c in cells)
    (project / "_notebook.py").write_text(code)
    _run(project, "_notebook.py")
