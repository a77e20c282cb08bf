# Reads a named tabular input the SDK v1 way: run.input_datasets["iris"].
import argparse

from azureml.core import Run

parser = argparse.ArgumentParser()
parser.add_argument("--input-data", type=str)
args = parser.parse_args()

run = Run.get_context()
df = run.input_datasets["iris"].to_pandas_dataframe()
print("columns:", list(df.columns))
run.log("rows", len(df))
run.log("mean_sepal_length", float(df["sepal_length"].mean()))
