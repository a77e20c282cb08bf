"""Train an SGD classifier on the prepared digits, logging accuracy every epoch.

Per-epoch accuracy lets early-termination policies stop poor configurations early.
"""

import argparse
import glob
import os
import pickle
import time

import numpy as np
from sklearn.linear_model import SGDClassifier

from cumulus import Run

parser = argparse.ArgumentParser()
parser.add_argument("--data", required=True, help="folder or file with digits.npz")
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--alpha", type=float, default=1e-4)
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--epoch-seconds", type=float, default=0.0,
                    help="pause per epoch, standing in for a bigger model's training time")
args = parser.parse_args()

path = args.data
if os.path.isdir(path):
    path = glob.glob(os.path.join(path, "**", "digits.npz"), recursive=True)[0]
data = np.load(path)
X_train, y_train, X_test, y_test = data["X_train"], data["y_train"], data["X_test"], data["y_test"]

run = Run.get_context()
clf = SGDClassifier(loss="log_loss", learning_rate="constant", eta0=args.lr, alpha=args.alpha,
                    random_state=0)
classes = np.unique(y_train)
rng = np.random.default_rng(0)
for epoch in range(args.epochs):
    order = rng.permutation(len(X_train))
    clf.partial_fit(X_train[order], y_train[order], classes=classes)
    acc = float(clf.score(X_test, y_test))
    run.log("accuracy", acc)
    print(f"epoch {epoch}: accuracy={acc:.4f}", flush=True)
    time.sleep(args.epoch_seconds)

os.makedirs("outputs", exist_ok=True)
with open("outputs/model.pkl", "wb") as fh:
    pickle.dump(clf, fh)
run.log("final_accuracy", acc)
