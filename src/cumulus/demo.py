"""``cumulus demo``: the whole loop on embedded defaults, nothing to configure."""

from __future__ import annotations

import shutil
from pathlib import Path

ASSETS = Path(__file__).with_name("demo_assets")


def run_demo(path: str = "cumulus-demo", *, smoke: bool = False) -> dict[str, object]:
    """Create a workspace in ``path`` and run a training run on the local compute target."""
    from rich.console import Console

    from cumulus import Experiment, ScriptRunConfig, Workspace

    console = Console(highlight=False)
    root = Path(path).resolve()
    ws = Workspace.create("cumulus-demo", path=root)
    src = root / "src"
    src.mkdir(exist_ok=True)
    shutil.copy(ASSETS / "hello_train.py", src / "train.py")
    console.rule("[bold]Cumulus demo")
    console.print(f"Workspace: {ws.root}  (store {ws.get_details()['store']})")
    run = Experiment(ws, "demo").submit(ScriptRunConfig(
        source_directory=src, script="train.py", arguments=["--epochs", 3 if smoke else 8]))
    run.wait_for_completion(show_output=True)
    metrics = run.get_metrics()
    console.rule("[bold]Summary")
    console.print(f"Run {run.id}: {run.get_status()}; final loss {metrics['loss'][-1]:.4f}")
    console.print(f"Files: {', '.join(run.get_file_names())}")
    console.print(f"Look at it with: cd {root} && cumulus runs show {run.id}")
    return {"run_id": run.id, "metrics": metrics}
