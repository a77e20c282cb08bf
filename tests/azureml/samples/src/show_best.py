# Pipeline step: check the best trial's model arrived through the sweep step's output.
import argparse
import os

from azureml.core import Run

parser = argparse.ArgumentParser()
parser.add_argument("--model", type=str, required=True)
args = parser.parse_args()

files = sorted(os.listdir(args.model))
print("best model folder:", files)
Run.get_context().log("model_files", sum(f.endswith(".pkl") for f in files))
