"""Give a run datastore inputs downloaded and mounted, and an output uploaded at the end.

    python examples/datastore/submit.py [--workspace PATH]

Mounting needs FUSE on the node (libfuse2 + fusepy); without it the example falls back to a
second download and says why.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from cumulus import Experiment, ScriptRunConfig, Workspace
from cumulus.datastores import mount_unavailable_reason


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workspace", default=str(Path(tempfile.gettempdir()) / "cumulus-data"))
    args = parser.parse_args()
    ws = Workspace.create("data-example", path=args.workspace, exist_ok=True)
    ds = ws.get_default_datastore()
    data = Path(tempfile.mkdtemp())
    for i in range(3):
        (data / f"part-{i}.txt").write_text(f"row {i}\n" * 100)
    ds.upload(src_dir=str(data), target_path="example/raw", overwrite=True, show_progress=True)

    raw = ds.path("example/raw")
    reason = mount_unavailable_reason()
    mounted = (raw.as_mount() if reason is None
               else raw.as_download(path_on_compute="again")).named("mounted")
    if reason is not None:
        print(f"mount unavailable here ({reason}); downloading twice instead")
    run = Experiment(ws, "data-example").submit(ScriptRunConfig(
        source_directory=Path(__file__).parent, script="read_data.py",
        arguments=["--downloaded", raw.as_download().named("downloaded"), "--mounted", mounted,
                   "--out", ds.path("example/summary").as_upload()]))
    run.wait_for_completion(show_output=True)
    print("metrics:", run.get_metrics())
    print("output files:", [f for f in ds.list_files("example/summary")])


if __name__ == "__main__":
    main()
