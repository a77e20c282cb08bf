"""Runs one function step on a node (started by the executor as the run's script).

The executor has already downloaded the inputs and made the output folders, and passes their
local paths as arguments; this loads the cloudpickled function from the step's snapshot and
calls it with them and the step's parameters, so ``Run.get_context()`` inside the function is
the step run. Outputs the function leaves empty are allowed (with a warning in the log).

Command line (written by the pipeline engine)::

    python _cumulus_step.py --step prep --params '{"scale": 2.0}' \
        --input raw /node/run/inputs/raw.csv --output clean /node/run/outputs_data/...
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

PAYLOAD = "_cumulus_step.pkl"


def parse(argv: list[str]) -> tuple[str, dict[str, Any], dict[str, str], dict[str, str]]:
    """(step name, parameters, inputs, outputs) from the runner's command line."""
    step, params = "step", {}
    inputs: dict[str, str] = {}
    outputs: dict[str, str] = {}
    i = 0
    while i < len(argv):
        flag = argv[i]
        if flag == "--step":
            step, i = argv[i + 1], i + 2
        elif flag == "--params":
            params, i = json.loads(argv[i + 1]), i + 2
        elif flag in ("--input", "--output"):
            target = inputs if flag == "--input" else outputs
            target[argv[i + 1]] = argv[i + 2]
            i += 3
        else:
            raise SystemExit(f"[cumulus] step runner: unexpected argument {flag!r}")
    return step, params, inputs, outputs


def _has_files(folder: str) -> bool:
    return any(files for _dirpath, _dirs, files in os.walk(folder))


def _record_result(result: Any) -> None:
    if result is None:
        return
    try:
        text = json.dumps(result)
    except (TypeError, ValueError):
        text = json.dumps(repr(result))
    if len(text) <= 10_000:
        from cumulus.tasks.context import get_context

        get_context().add_properties({"return_value": json.loads(text)})


def main(argv: list[str] | None = None) -> None:
    import cloudpickle

    step, params, inputs, outputs = parse(list(sys.argv[1:] if argv is None else argv))
    with open(PAYLOAD, "rb") as fh:
        fn = cloudpickle.load(fh)
    name = getattr(fn, "__qualname__", step)
    print(f"[cumulus] step {step}: calling {name}() with inputs {sorted(inputs)}, outputs "
          f"{sorted(outputs)}, parameters {sorted(params)}", flush=True)
    result = fn(**params, **inputs, **outputs)
    empty = [n for n, path in outputs.items() if not _has_files(path)]
    if empty:  # allowed (as in the managed service): later steps get an empty folder
        print(f"[cumulus] step {step}: warning: output(s) {', '.join(empty)} are empty; the "
              "steps reading them get an empty folder.", file=sys.stderr, flush=True)
    _record_result(result)


if __name__ == "__main__":  # pragma: no cover
    main()
