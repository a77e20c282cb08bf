"""Scoring script for the sweep example's model (softmax weights in outputs/model.json):
init() loads it once, run() predicts digits for rows of 64 pixel values in 0..16."""

import json
import os

import numpy as np

weights = None


def init():
    global weights
    folder = os.environ["CUMULUS_MODEL_DIR"]
    path = next(os.path.join(d, f) for d, _, files in os.walk(folder) for f in files
                if f == "model.json")
    with open(path) as fh:
        weights = np.asarray(json.load(fh)["w"])


def run(raw_data):
    data = json.loads(raw_data) if isinstance(raw_data, (str, bytes)) else raw_data
    x = np.asarray(data["data"], dtype=float) / 16.0
    return {"predictions": (x @ weights).argmax(axis=1).tolist()}
