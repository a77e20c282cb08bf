"""A workspace whose default datastore is Azure Blob: snapshots, outputs and logs live there.

    export AZURE_STORAGE_CONNECTION_STRING='...'      # the secret stays in the environment
    python examples/azure/blob_workspace.py --container cumulus [--workspace PATH]

Works the same against the Azurite emulator (the tests do exactly that). cumulus.yaml names the
variable, never the secret.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import yaml

from cumulus import Experiment, ScriptRunConfig, Workspace

HELLO = Path(__file__).resolve().parents[1] / "hello"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--container", required=True)
    parser.add_argument("--workspace", default=str(Path(tempfile.gettempdir()) / "cumulus-az"))
    args = parser.parse_args()
    root = Path(args.workspace)
    root.mkdir(parents=True, exist_ok=True)
    (root / "cumulus.yaml").write_text(yaml.safe_dump({
        "name": "azure-example",
        "default_datastore": "blob",
        "datastores": {"blob": {"url": f"az://{args.container}/cumulus",
                                "credential_env": "AZURE_STORAGE_CONNECTION_STRING"}},
    }))
    ws = Workspace.from_config(root)
    ds = ws.get_default_datastore()
    print(f"default datastore: {ds.name} -> {ds.url}")
    run = Experiment(ws, "azure-hello").submit(
        ScriptRunConfig(source_directory=HELLO, script="train.py", arguments=["--epochs", 3]))
    run.wait_for_completion(show_output=True)
    for name in run.get_file_names():
        print("stored on blob:", name)
    path = run.download_file("outputs/model.json", root / "model.json")
    print("downloaded:", path.read_text())
    print("blobs:", sorted(p for p in ds.fs.find(ds.full_path("runs")) if run.id in p)[:5])


if __name__ == "__main__":
    main()
