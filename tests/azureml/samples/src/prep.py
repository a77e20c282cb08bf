# Pipeline step: write the digits data as CSV into the output folder.
import argparse
import os

import numpy as np
from azureml.core import Run
from sklearn.datasets import load_digits

parser = argparse.ArgumentParser()
parser.add_argument("--output", type=str, required=True)
parser.add_argument("--rows", type=int, default=1797)
args = parser.parse_args()

X, y = load_digits(return_X_y=True)
os.makedirs(args.output, exist_ok=True)
np.savetxt(os.path.join(args.output, "digits.csv"),
           np.column_stack([X, y])[: args.rows], delimiter=",", fmt="%g")
Run.get_context().log("rows", int(min(args.rows, len(y))))
print("prepared", args.rows, "rows into", args.output)
