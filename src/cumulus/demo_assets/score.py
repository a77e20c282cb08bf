"""Scoring script for the digits model: init() loads it, run() predicts."""

import json
import os
import pickle

import numpy as np

model = None


def init():
    global model
    folder = os.environ["CUMULUS_MODEL_DIR"]
    path = next(os.path.join(d, f) for d, _, files in os.walk(folder) for f in files
                if f.endswith(".pkl"))
    with open(path, "rb") as fh:
        model = pickle.load(fh)


def run(raw_data):
    data = json.loads(raw_data) if isinstance(raw_data, (str, bytes)) else raw_data
    X = np.asarray(data["data"], dtype="float32")
    return {"predictions": model.predict(X).tolist()}
