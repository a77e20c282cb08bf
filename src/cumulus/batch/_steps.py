"""The pipeline steps of a batch-scoring job: N workers, then one merge."""

from __future__ import annotations

import os
from typing import Any

from cumulus.flows import step


def _ws() -> Any:
    from cumulus import Workspace

    return Workspace.from_config(os.environ["CUMULUS_WORKSPACE"])


@step(name="score", allow_reuse=False)
def score(*, config: dict[str, Any], inputs: dict[str, Any], output: dict[str, str],
          worker: int, workers: int) -> dict[str, Any]:
    """Score worker ``worker``'s share of the mini-batches of ``inputs`` (read from the
    datastore a mini-batch at a time: no worker copies the whole input)."""
    from cumulus import Run
    from cumulus.batch._work import score_share

    summary = score_share(_ws(), config, inputs, output, worker, workers)
    run = Run.get_context()
    for key in ("scored", "skipped", "failed", "rows"):
        run.log(f"mini_batches_{key}" if key != "rows" else "rows", summary[key])
    return summary


@step(name="merge", allow_reuse=False)
def merge(*, config: dict[str, Any], inputs: dict[str, Any],
          output: dict[str, str]) -> dict[str, Any]:
    """Gather every mini-batch's rows into the output file; check error_threshold."""
    from cumulus import Run
    from cumulus.batch._work import merge as merge_parts
    from cumulus.datastores import DataPath

    summary = merge_parts(_ws(), config, inputs, output)
    run = Run.get_context()
    run.log("rows", summary["rows"])
    # the output folder, for run.get_outputs() / get_output_data(name) like any step output
    run.add_properties({"outputs": {output.get("name", "output"): DataPath(
        output["datastore"], output["path"]).to_dict()}})
    return summary


__all__ = ["merge", "score"]
