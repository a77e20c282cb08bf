# A two-step pipeline with a data dependency, a pipeline parameter, publishing and a
# schedule: the flow of the SDK v1 pipeline samples.
import os

from azureml.core import Experiment, Workspace
from azureml.core.compute import AmlCompute, ComputeTarget
from azureml.core.runconfig import RunConfiguration
from azureml.pipeline.core import (
    Pipeline,
    PipelineData,
    PipelineParameter,
    Schedule,
    ScheduleRecurrence,
)
from azureml.pipeline.steps import PythonScriptStep

ws = Workspace.from_config()
datastore = ws.get_default_datastore()
compute_target = ComputeTarget.create(
    ws, "pipeline-cluster", AmlCompute.provisioning_configuration(max_nodes=2))

run_config = RunConfiguration()
run_config.environment.python.user_managed_dependencies = True

rows_param = PipelineParameter(name="rows", default_value=500)
prepped = PipelineData("prepped", datastore=datastore)

prep_step = PythonScriptStep(name="prep", script_name="prep.py",
                             arguments=["--output", prepped, "--rows", rows_param],
                             outputs=[prepped], compute_target=compute_target,
                             runconfig=run_config, source_directory="./src",
                             allow_reuse=True)
train_step = PythonScriptStep(name="train", script_name="train.py",
                              arguments=["--data-folder", prepped, "--max-iter", 50],
                              inputs=[prepped], compute_target=compute_target,
                              runconfig=run_config, source_directory="./src",
                              allow_reuse=True)

pipeline = Pipeline(workspace=ws, steps=[train_step])   # prep comes in through its output
pipeline.validate()
pipeline_run = Experiment(ws, "pipeline-with-data").submit(
    pipeline, pipeline_parameters={"rows": 400})
pipeline_run.wait_for_completion(show_output=True)

prep_run = pipeline_run.find_step_run("prep")[0]
train_run = pipeline_run.find_step_run("train")[0]
assert prep_run.get_metrics()["rows"] == 400
prepped_data = prep_run.get_output_data("prepped")
local = prepped_data.download(local_path="prepped_local", overwrite=True)
print("prepped data:", prepped_data.datastore_name, prepped_data.path_on_datastore, local)
assert os.path.isfile(os.path.join(local, "digits.csv"))
print("train accuracy:", train_run.get_metrics()["accuracy"])

published = pipeline.publish(name="digits-pipeline", description="prep and train")
recurrence = ScheduleRecurrence(frequency="Day", interval=1, hours=[2], minutes=[30])
schedule = Schedule.create(ws, name="nightly-digits", pipeline_id=published.id,
                           experiment_name="pipeline-with-data", recurrence=recurrence)
print(schedule)
schedule.disable()
assert Schedule.get(ws, "nightly-digits").status == "Disabled"
print("SAMPLE OK")
