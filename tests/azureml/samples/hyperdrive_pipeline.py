# A sweep inside a pipeline: prepare data, tune on it with HyperDrive, use the best model.
from azureml.core import Experiment, ScriptRunConfig, Workspace
from azureml.pipeline.core import Pipeline, PipelineData
from azureml.pipeline.steps import HyperDriveStep, PythonScriptStep
from azureml.train.hyperdrive import (
    GridParameterSampling,
    HyperDriveConfig,
    PrimaryMetricGoal,
    choice,
)

ws = Workspace.from_config()
datastore = ws.get_default_datastore()
prepped = PipelineData("prepped", datastore=datastore)
best_model = PipelineData("best_model", datastore=datastore)

prep_step = PythonScriptStep(name="prep", script_name="prep.py",
                             arguments=["--output", prepped, "--rows", 300],
                             outputs=[prepped], source_directory="./src")
src = ScriptRunConfig(source_directory="./src", script="train.py",
                      arguments=["--data-folder", prepped, "--max-iter", 50])
hd_config = HyperDriveConfig(run_config=src,
                             hyperparameter_sampling=GridParameterSampling(
                                 {"--regularization": choice(0.1, 1.0)}),
                             primary_metric_name="accuracy",
                             primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
                             max_total_runs=2, max_concurrent_runs=2)
tune_step = HyperDriveStep(name="tune", hyperdrive_config=hd_config, inputs=[prepped],
                           outputs=[best_model])
show_step = PythonScriptStep(name="show", script_name="show_best.py",
                             arguments=["--model", best_model], inputs=[best_model],
                             source_directory="./src")

pipeline = Pipeline(workspace=ws, steps=[show_step])
pipeline_run = Experiment(ws, "hyperdrive-pipeline").submit(pipeline)
pipeline_run.wait_for_completion(show_output=True)

tune_run = pipeline_run.find_step_run("tune")[0]
best = tune_run.get_best_run_by_primary_metric()
print("best trial:", best.id, best.get_metrics()["accuracy"])
show_run = pipeline_run.find_step_run("show")[0]
assert show_run.get_metrics()["model_files"] == 1
print("SAMPLE OK")
