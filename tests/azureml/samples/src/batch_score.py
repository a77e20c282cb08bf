# Batch scoring entry script in the SDK v1 style: init() once, run(mini_batch) per mini-batch.
import os

import joblib
import numpy as np


def init():
    global model
    model = joblib.load(os.path.join(os.environ["AZUREML_BATCH_MODEL_DIR"],
                                     "sklearn_digits_model.pkl"))


def run(mini_batch):
    results = []
    for path in mini_batch:
        row = np.loadtxt(path, delimiter=",").reshape(1, -1) / 16.0
        results.append(f"{os.path.basename(path)}: {int(model.predict(row)[0])}")
    return results
