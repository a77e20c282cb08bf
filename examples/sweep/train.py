"""A small training script for the sweep example: softmax regression on 8x8 digits, in NumPy.

It reads its hyperparameters as command-line flags (a sweep appends ``--lr VALUE --batch
VALUE``), trains on scikit-learn's bundled digits (no download) and logs ``accuracy`` on
held-out images after every epoch, so an early-termination policy can stop poor settings early.

Run one trial by hand with `python examples/sweep/train.py --lr 0.1 --batch 32` (an offline
run that prints its metrics), or the whole sweep with
`cumulus sweep launch examples/sweep/sweep.yaml --follow`.
"""

import argparse
import json
import os
import time

import numpy as np
from sklearn.datasets import load_digits

from cumulus import Run

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--batch", type=int, default=32)
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--epoch-seconds", type=float, default=0.3,
                    help="pause per epoch, standing in for a bigger model's training time")
args = parser.parse_args()

rng = np.random.default_rng(args.seed)
digits = load_digits()
x = digits.data / 16.0
y = np.eye(10)[digits.target]
order = rng.permutation(len(x))
x, y = x[order], y[order]
x_train, y_train, x_test, y_test = x[:1200], y[:1200], x[1200:], y[1200:]

run = Run.get_context()
w = np.zeros((x.shape[1], 10))
for epoch in range(args.epochs):
    batches = rng.permutation(len(x_train))
    for start in range(0, len(batches), args.batch):
        idx = batches[start:start + args.batch]
        logits = x_train[idx] @ w
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        w -= args.lr * x_train[idx].T @ (p - y_train[idx]) / len(idx)
    accuracy = float(np.mean((x_test @ w).argmax(axis=1) == y_test.argmax(axis=1)))
    run.log("accuracy", accuracy)
    print(f"epoch {epoch}: accuracy={accuracy:.4f}", flush=True)
    time.sleep(args.epoch_seconds)

os.makedirs("outputs", exist_ok=True)
with open("outputs/model.json", "w") as fh:
    json.dump({"w": w.tolist(), "lr": args.lr, "batch": args.batch}, fh)
