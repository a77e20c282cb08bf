# Register a model and deploy it as a local web service: the SDK v1 deploy-to-local flow.
import json
import os

import joblib
import requests
from azureml.core import Environment, Workspace
from azureml.core.conda_dependencies import CondaDependencies
from azureml.core.model import InferenceConfig, Model
from azureml.core.webservice import LocalWebservice
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

ws = Workspace.from_config()

X, y = load_digits(return_X_y=True)
os.makedirs("model", exist_ok=True)
joblib.dump(LogisticRegression(max_iter=200).fit(X / 16.0, y), "model/sklearn_digits_model.pkl")
model = Model.register(workspace=ws, model_path="model/sklearn_digits_model.pkl",
                       model_name="digits-local", tags={"area": "digits"},
                       description="logistic regression on digits")

env = Environment("deploy-env")
env.python.conda_dependencies = CondaDependencies.create(
    pip_packages=["scikit-learn", "inference-schema[numpy-support]", "azureml-defaults"])
inference_config = InferenceConfig(entry_script="score.py", source_directory="./src",
                                   environment=env)
deployment_config = LocalWebservice.deploy_configuration(port=None)
service = Model.deploy(ws, "digits-local-svc", [model], inference_config, deployment_config,
                       overwrite=True)
service.wait_for_deployment(show_output=True)
print(service.state, service.scoring_uri)

sample = json.dumps({"data": (X[:3] / 16.0).tolist()})
prediction = service.run(input_data=sample)
print("prediction:", prediction)
assert list(prediction) == [int(v) for v in y[:3]]
resp = requests.post(service.scoring_uri, sample, headers={"Content-Type": "application/json"})
assert resp.status_code == 200, resp.text
service.delete()
print("SAMPLE OK")
