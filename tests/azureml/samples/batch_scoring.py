# Batch scoring with ParallelRunStep: the flow of the SDK v1 batch inference samples.
import os

import joblib
import numpy as np
from azureml.core import Dataset, Environment, Experiment, Workspace
from azureml.core.compute import AmlCompute, ComputeTarget
from azureml.data import OutputFileDatasetConfig
from azureml.pipeline.core import Pipeline
from azureml.pipeline.steps import ParallelRunConfig, ParallelRunStep
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

ws = Workspace.from_config()
def_data_store = ws.get_default_datastore()
compute_target = ComputeTarget.create(
    ws, "batch-cluster", AmlCompute.provisioning_configuration(max_nodes=2))

X, y = load_digits(return_X_y=True)
os.makedirs("digits_input", exist_ok=True)
for i in range(24):
    np.savetxt(f"digits_input/digit_{i:03d}.csv", X[i].reshape(1, -1), delimiter=",")
os.makedirs("batch_model", exist_ok=True)
joblib.dump(LogisticRegression(max_iter=300).fit(X / 16.0, y),
            "batch_model/sklearn_digits_model.pkl")

def_data_store.upload(src_dir="digits_input", target_path="digits_input", overwrite=True)
input_ds = Dataset.File.from_files(path=(def_data_store, "digits_input/"))
output_dir = OutputFileDatasetConfig(name="inferences",
                                     destination=(def_data_store, "digits_output"))

batch_env = Environment("batch-env")
batch_env.python.user_managed_dependencies = True
batch_env.environment_variables = {
    "AZUREML_BATCH_MODEL_DIR": os.path.abspath("batch_model")}

parallel_run_config = ParallelRunConfig(
    source_directory="./src", entry_script="batch_score.py", mini_batch_size="5",
    error_threshold=10, output_action="append_row", environment=batch_env,
    compute_target=compute_target, node_count=2)
parallelrun_step = ParallelRunStep(
    name="predict-digits", parallel_run_config=parallel_run_config,
    inputs=[input_ds.as_named_input("digits")], output=output_dir, allow_reuse=False)

pipeline = Pipeline(workspace=ws, steps=[parallelrun_step])
pipeline_run = Experiment(ws, "digit-batch-scoring").submit(pipeline)
pipeline_run.wait_for_completion(show_output=True)

batch_run = pipeline_run.find_step_run(parallelrun_step.name)[0]
batch_output = batch_run.get_output_data(output_dir.name)
batch_output.download(local_path="inference-results")
result_file = None
for root, _dirs, files in os.walk("inference-results"):
    for file in files:
        if file.endswith("parallel_run_step.txt"):
            result_file = os.path.join(root, file)
with open(result_file) as fh:
    lines = fh.read().splitlines()
print(len(lines), "predictions, first:", lines[:3])
assert len(lines) == 24
correct = sum(int(line.split(": ")[1]) == int(y[int(line[6:9])]) for line in lines)
assert correct >= 22, correct
print("SAMPLE OK")
