# Hyperparameter tuning with HyperDrive: the flow of the SDK v1 hyperdrive samples.
from azureml.core import Experiment, Run, ScriptRunConfig, Workspace
from azureml.train.hyperdrive import (
    BanditPolicy,
    HyperDriveConfig,
    PrimaryMetricGoal,
    RandomParameterSampling,
    choice,
)
from azureml.widgets import RunDetails

ws = Workspace.from_config()
experiment = Experiment(ws, "hyperdrive-sklearn")

src = ScriptRunConfig(source_directory="./src", script="train.py",
                      arguments=["--max-iter", 50], compute_target="local")
param_sampling = RandomParameterSampling({
    "--regularization": choice(0.01, 0.1, 1.0),
})
early_termination_policy = BanditPolicy(evaluation_interval=1, slack_factor=0.2,
                                        delay_evaluation=1)
hd_config = HyperDriveConfig(run_config=src, hyperparameter_sampling=param_sampling,
                             policy=early_termination_policy,
                             primary_metric_name="accuracy",
                             primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
                             max_total_runs=6, max_concurrent_runs=2)
hyperdrive_run = experiment.submit(hd_config)
RunDetails(hyperdrive_run).show()
hyperdrive_run.wait_for_completion(show_output=True)

best_run = hyperdrive_run.get_best_run_by_primary_metric()
best_run_metrics = best_run.get_metrics()
parameter_values = best_run.get_details()["runDefinition"]["arguments"]
print("Best Run Id:", best_run.id)
print("Accuracy:", best_run_metrics["accuracy"])
print("Arguments:", parameter_values)
children = hyperdrive_run.get_children_sorted_by_primary_metric(top=3)
print(children)
all_metrics = hyperdrive_run.get_metrics()
assert len(all_metrics) == 3, all_metrics   # a 3-point space is not repeated
again = Run(experiment, hyperdrive_run.id)
assert hasattr(again, "get_best_run_by_primary_metric")
print("SAMPLE OK")
