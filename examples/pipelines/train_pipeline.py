"""A two-step training pipeline on the digits data set: prep -> train, with reuse.

``prep`` reads a CSV from the workspace's default datastore (an ``Input``) and writes a
train/test split (an ``Output``); ``train`` reads the split, fits an SVM with the pipeline
parameter ``C`` and logs its accuracy. Run it twice: the second submission reuses both steps;
change ``C`` and only ``train`` runs again.

Run it (a workspace is created under the temp folder unless you are inside one)::

    python examples/pipelines/train_pipeline.py            # submit twice, show reuse
    python examples/pipelines/train_pipeline.py --C 10     # only `train` runs again
    # or, inside a workspace that has digits/digits.csv on its default datastore:
    cumulus pipeline run examples/pipelines/train_pipeline.py:train_pipeline --param C=10 -f
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from cumulus import Run
from cumulus.datastores import DataPath
from cumulus.flows import Input, Output, pipeline, step


@step
def prep(raw: Input, split: Output, *, test_fraction: float = 0.25, seed: int = 0) -> int:
    """Split the CSV (64 pixel columns, then the label) into train.npz and test.npz."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    table = np.loadtxt(raw, delimiter=",")
    x, y = table[:, :-1] / 16.0, table[:, -1].astype(int)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_fraction,
                                                        random_state=seed, stratify=y)
    np.savez(Path(split, "train.npz"), x=x_train, y=y_train)
    np.savez(Path(split, "test.npz"), x=x_test, y=y_test)
    Run.get_context().log("train_rows", len(y_train))
    return len(y_train)


@step
def train(data: Input, model: Output, *, C: float = 1.0) -> float:
    """Fit an SVM on train.npz, log its accuracy on test.npz, save model.pkl."""
    import pickle

    import numpy as np
    from sklearn.svm import SVC

    tr, te = np.load(Path(data, "train.npz")), np.load(Path(data, "test.npz"))
    clf = SVC(C=C, gamma=0.05).fit(tr["x"], tr["y"])
    accuracy = float(clf.score(te["x"], te["y"]))
    Run.get_context().log("accuracy", accuracy)
    Path(model, "model.pkl").write_bytes(pickle.dumps(clf))
    return accuracy


@pipeline(name="digits-train")
def train_pipeline(data: str = "digits/digits.csv", C: float = 1.0,
                   test_fraction: float = 0.25):
    """Prepare the digits CSV and train an SVM on it."""
    split = prep(raw=DataPath("workspacestore", data), test_fraction=test_fraction)
    return {"model": train(data=split, C=C)}


def open_workspace(path: str | None):  # type: ignore[no-untyped-def]
    """The workspace at ``path``, the one around the cwd, or a demo one in the temp folder."""
    from cumulus import Workspace
    from cumulus.errors import WorkspaceNotFoundError

    if path is None:
        try:
            return Workspace.from_config()
        except WorkspaceNotFoundError:
            path = os.path.join(tempfile.gettempdir(), "cumulus-pipelines-demo")
    return Workspace.create("pipelines-demo", path=path, exist_ok=True)


def upload_digits(ws, target: str = "digits/digits.csv") -> None:  # type: ignore[no-untyped-def]
    """Put the digits data set (bundled with scikit-learn) on the default datastore."""
    import numpy as np
    from sklearn.datasets import load_digits

    ds = ws.get_default_datastore()
    if ds.exists(target):
        return
    digits = load_digits()
    table = np.column_stack([digits.data, digits.target])
    with ds.fs.open(ds.full_path(target), "w") as fh:
        np.savetxt(fh, table, delimiter=",", fmt="%g")


def main() -> None:
    from cumulus import Experiment

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workspace", default=None)
    parser.add_argument("--C", type=float, default=1.0)
    args = parser.parse_args()
    ws = open_workspace(args.workspace)
    upload_digits(ws)
    exp = Experiment(ws, "digits-pipeline")
    for attempt in (1, 2):
        prun = exp.submit(train_pipeline, pipeline_parameters={"C": args.C})
        prun.wait_for_completion(show_output=True)
        print(f"\nsubmission {attempt}: pipeline run {prun.id}")
        for run in prun.get_steps():
            props = run.get_properties()
            print(f"  {run.display_name:6} {run.get_status():9} {props['reason']}")
        train_run = prun.find_step_run("train")[-1]
        print(f"  accuracy: {train_run.get_metrics().get('accuracy')}  "
              f"model: {prun.get_outputs()['model'].path_on_datastore}")
    url = prun.get_properties().get("prefect_flow_run_url")
    print(f"\nworkspace: {ws.root}; Prefect UI: {url}")


if __name__ == "__main__":
    main()
