# Training on a compute cluster: the flow of the SDK v1 "train-on-amlcompute" samples.
import azureml.core
from azureml.core import Environment, Experiment, ScriptRunConfig, Workspace
from azureml.core.compute import AmlCompute, ComputeTarget
from azureml.core.compute_target import ComputeTargetException
from azureml.core.conda_dependencies import CondaDependencies
from azureml.core.model import Model

print("SDK version:", azureml.core.VERSION)

ws = Workspace.from_config()
print(ws.name, ws.location, ws.resource_group, sep="\n")

cluster_name = "cpu-cluster"
try:
    compute_target = ComputeTarget(workspace=ws, name=cluster_name)
    print("Found existing compute target")
except ComputeTargetException:
    print("Creating a new compute target...")
    compute_config = AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2",
                                                           min_nodes=0, max_nodes=2,
                                                           idle_seconds_before_scaledown="300")
    compute_target = ComputeTarget.create(ws, cluster_name, compute_config)
    compute_target.wait_for_completion(show_output=True, min_node_count=None,
                                       timeout_in_minutes=20)
print(compute_target.get_status().serialize())

env = Environment("sklearn-env")
cd = CondaDependencies.create(pip_packages=["scikit-learn", "joblib"],
                              conda_packages=["numpy"])
env.python.conda_dependencies = cd

src = ScriptRunConfig(source_directory="./src", script="train.py",
                      arguments=["--regularization", 0.5],
                      compute_target=compute_target, environment=env)
experiment = Experiment(workspace=ws, name="train-on-amlcompute")
run = experiment.submit(config=src)
run.wait_for_completion(show_output=True)

metrics = run.get_metrics()
print("accuracy:", metrics["accuracy"])
assert run.get_status() == "Completed"
assert run.get_details()["runDefinition"]["arguments"] == ["--regularization", 0.5]
assert "outputs/sklearn_digits_model.pkl" in run.get_file_names()

model = run.register_model(model_name="sklearn-digits",
                           model_path="outputs/sklearn_digits_model.pkl")
print(model.name, model.id, model.version, sep="\t")
assert Model(ws, "sklearn-digits").version == model.version
for r in experiment.get_runs():
    print(r.id, r.get_status())
print("SAMPLE OK")
