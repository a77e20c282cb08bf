# Scoring script in the SDK v1 style: AZUREML_MODEL_DIR and inference_schema decorators.
import json
import os

import joblib
import numpy as np
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.schema_decorators import input_schema, output_schema


def init():
    global model
    model_path = os.path.join(os.getenv("AZUREML_MODEL_DIR"), "sklearn_digits_model.pkl")
    model = joblib.load(model_path)


input_sample = np.zeros((1, 64))
output_sample = np.array([0])


@input_schema("data", NumpyParameterType(input_sample))
@output_schema(NumpyParameterType(output_sample))
def run(data):
    result = model.predict(data)
    return json.loads(json.dumps(result.tolist()))
